# METADATA
# title: Hard denials
# description: |
#   Rules that deny whatever consents exist: malformed or unknown input, role duties, roles the
#   institution's kind cannot have, and the preconditions of an emergency. Each message names
#   the field or rule that failed.
package consentry.authz

# Hot path: a well-formed, non-emergency read that the role's duties allow passes one body of
# inline checks (~10 us) instead of the ten rules of _deny below (~50 us in regorus). It must
# imply that _deny is empty: tests/policy/test_rego_unit.py checks that on every table case and
# test_policy_fuzz.py on damaged inputs. Anything else (ETREAT included) takes the full rules.
deny := set() if _plain_read else := _deny

_plain_read if {
	input.action == "read"
	input.purpose != data.consentry.emergency.purpose
	is_number(input.now)
	is_string(input.subject.org)
	trim_space(input.subject.org) != ""
	is_array(object.get(_resource, "labels", []))
	category := _category
	category in data.consentry.vocabulary.categories
	input.purpose in data.consentry.vocabulary.purposes
	category in data.consentry.duties.roles[input.subject.role].purposes[input.purpose]
	input.subject.role in data.consentry.institutions.kinds[input.subject.kind].roles
}

_deny contains sprintf("action %v is not supported", [object.get(input, "action", null)]) if {
	not input.action in _vocab.actions
}

# `allow`, `reasons` and `deny` are the read rules; `decision` sends an erase to erasure.rego.
_deny contains "action erase is decided by the erasure rules (rule decision), not the read rules" if {
	input.action == "erase"
}

_deny contains sprintf("purpose %v is not a known purpose of use", [object.get(input, "purpose", null)]) if {
	not input.purpose in _vocab.purposes
}

_deny contains sprintf("category %v is not a known category", [_category]) if {
	not _category in _vocab.categories
}

_deny contains "now must be epoch nanoseconds (a number)" if not is_number(input.now)

# Each of the three reads the subject through `_subject` and object.get, never input.subject.x:
# OPA hoists a reference out of a `not` (as a call's argument or a key), so an absent or
# non-object subject would make the whole rule undefined there, and the denial would vanish.
_deny contains "subject.org must be a non-empty string" if not _non_empty_string(object.get(_subject, "org", null))

_deny contains "resource.labels must be a list of strings" if {
	not is_array(object.get(_resource, "labels", []))
}

_deny contains sprintf("role %v is not a known staff role", [object.get(_subject, "role", null)]) if {
	not _roles[object.get(_subject, "role", null)]
}

_deny contains sprintf("institution kind %v is not a known kind", [object.get(_subject, "kind", null)]) if {
	not _kinds[object.get(_subject, "kind", null)]
}

# Authentication refuses such a token already (services/identity/auth.py); the policy holds the
# line on its own too, so a role is never worth more than the institution it acts for.
_deny contains sprintf("an institution of kind %s cannot have role %s", [input.subject.kind, input.subject.role]) if {
	_kinds[input.subject.kind]
	_roles[input.subject.role]
	not input.subject.role in _kinds[input.subject.kind].roles
}

_deny contains msg if {
	duties := _roles[input.subject.role].purposes
	input.purpose in _vocab.purposes
	_category in _vocab.categories
	not _category in object.get(duties, input.purpose, [])
	msg := sprintf("role %s may not read %s for %s", [input.subject.role, _category, input.purpose])
}

_deny contains "purpose ETREAT needs a declared emergency with a non-empty reason" if {
	input.purpose == _emergency.purpose
	not _emergency_declared
}

_deny contains sprintf("break-the-glass needs a clinician role; %v is not one", [input.subject.role]) if {
	input.purpose == _emergency.purpose
	_roles[input.subject.role]
	not _roles[input.subject.role].clinician == true
}

_deny contains sprintf("break-the-glass needs a care-delivering institution; kind %s is not one", [input.subject.kind]) if {
	input.purpose == _emergency.purpose
	_kinds[input.subject.kind]
	not _kinds[input.subject.kind].delivers_care == true
}

# Never iterate or object.get on a value of the wrong type: in regorus that is an error, and an
# error fails the whole batch (closed, but every record of it is denied).
_subject := input.subject if is_object(input.subject) else := {}

_resource := input.resource if is_object(input.resource) else := {}

_category := object.get(_resource, "category", null)

_effective := object.get(_resource, "effective", null)

_non_empty_string(s) if {
	is_string(s)
	trim_space(s) != ""
}
