# METADATA
# title: Batch evaluation
# description: |
#   One decision per element of input.batch, in order, so a fetch of many records costs one
#   query. Kept in its own file: rego-cpp (regopy) rejects `with input as` here, so the
#   regopy test engine loads every module but this one and asks for `decision` per record.
package consentry.authz

decisions := [d | some x in input.batch; d := decision with input as x]
