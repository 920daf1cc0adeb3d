# METADATA
# title: Hard denials
# description: |
#   Rules that deny whatever consents exist: malformed or unknown input, role duties, and the
#   preconditions of an emergency. Each message names the field or rule that failed.
package consentry.authz

deny contains sprintf("action %v is not supported", [object.get(input, "action", null)]) if {
	not input.action in _vocab.actions
}

deny contains sprintf("purpose %v is not a known purpose of use", [object.get(input, "purpose", null)]) if {
	not input.purpose in _vocab.purposes
}

deny contains sprintf("category %v is not a known category", [_category]) if {
	not _category in _vocab.categories
}

deny contains "now must be epoch nanoseconds (a number)" if not is_number(input.now)

deny contains "subject.org must be a non-empty string" if not _non_empty_string(input.subject.org)

deny contains "resource.labels must be a list of strings" if {
	not is_array(object.get(_resource, "labels", []))
}

deny contains sprintf("role %v is not a known staff role", [object.get(_subject, "role", null)]) if {
	not _roles[input.subject.role]
}

deny contains msg if {
	duties := _roles[input.subject.role].purposes
	input.purpose in _vocab.purposes
	_category in _vocab.categories
	not _category in object.get(duties, input.purpose, [])
	msg := sprintf("role %s may not read %s for %s", [input.subject.role, _category, input.purpose])
}

deny contains "purpose ETREAT needs a declared emergency with a non-empty reason" if {
	input.purpose == _emergency.purpose
	not _emergency_declared
}

deny contains sprintf("break-the-glass needs a clinician role; %v is not one", [input.subject.role]) if {
	input.purpose == _emergency.purpose
	_roles[input.subject.role]
	not _roles[input.subject.role].clinician == true
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
