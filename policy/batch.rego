# METADATA
# title: Batch evaluation
# description: |
#   Many decisions in one query, in order. Two input shapes (docs/policy.md, "Batches"):
#   {"batch": [input, ...]}, one complete input per decision; or the shared shape
#   {subject, action, purpose, emergency, consents, now, "resources": [resource, ...]}, one
#   decision per resource with every other field shared, so a fetch encodes the patient's
#   consents once, not once per record. Kept in its own file: rego-cpp (regopy) rejects
#   `with input ...` here, so the regopy test engine loads every module but this one and asks
#   for `decision` per record.
package consentry.authz

decisions := [d | some x in input.batch; d := decision with input as x] if {
	is_array(input.batch)
} else := [d | some r in input.resources; d := decision with input.resource as r] if {
	is_array(input.resources)
}
