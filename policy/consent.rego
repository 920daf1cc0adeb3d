# METADATA
# title: Consent matching and record sensitivity
# description: |
#   A consent covers a record when every check below holds. Periods are half-open,
#   [from, until), epoch nanoseconds; null means unbounded. A consent whose categories
#   contain data.consentry.vocabulary.broad_category ("*") is broad: it covers every
#   non-sensitive category and never a sensitive record.
package consentry.authz

_consents := [c | some c in input.consents; is_object(c)]

_covering_ids contains c.id if {
	some i, c in _consents
	not _has_problem[i]
}

_has_problem[i] := true if some [i, _] in _problems

# [index into _consents, message] for every reason a consent does not cover this record.
_problems contains [i, sprintf("consent at position %d has no string id", [i])] if {
	some i, c in _consents
	not is_string(c.id)
}

_problems contains [i, sprintf("consent %v is granted to another institution", [c.id])] if {
	some i, c in _consents
	not c.grantee == input.subject.org
}

_problems contains [i, sprintf("consent %v is %v", [c.id, object.get(c, "status", null)])] if {
	some i, c in _consents
	not c.status == "active"
}

_problems contains [i, msg] if {
	some i, c in _consents
	not c.kind == _required_kind
	msg := sprintf("consent %v is a %v consent; purpose %v needs a %v consent", [c.id, object.get(c, "kind", null), input.purpose, _required_kind])
}

_problems contains [i, sprintf("consent %v does not cover purpose %v", [c.id, input.purpose])] if {
	some i, c in _consents
	not _listed(input.purpose, c.purposes)
}

_problems contains [i, sprintf("consent %v does not cover category %v", [c.id, input.resource.category])] if {
	not sensitive
	some i, c in _consents
	not _listed(input.resource.category, c.categories)
	not _listed(_vocab.broad_category, c.categories)
}

_problems contains [i, sprintf("consent %v does not name sensitive category %v", [c.id, name])] if {
	sensitive
	some i, c in _consents
	some name in _record_categories
	not _listed(name, c.categories)
}

_problems contains [i, sprintf("consent %v excepts category %v", [c.id, name])] if {
	some i, c in _consents
	some name in _record_categories
	_listed(name, object.get(c, "excepted", []))
}

_problems contains [i, sprintf("consent %v has a malformed excepted list", [c.id])] if {
	some i, c in _consents
	not is_array(object.get(c, "excepted", []))
}

_problems contains [i, sprintf("consent %v is not valid before %v", [c.id, c.valid_from])] if {
	some i, c in _consents
	not _not_before(object.get(c, "valid_from", null), input.now)
}

_problems contains [i, sprintf("consent %v expired at %v", [c.id, c.valid_until])] if {
	some i, c in _consents
	not _before(object.get(c, "valid_until", null), input.now)
}

_problems contains [i, msg] if {
	some i, c in _consents
	not _in_data_period(c)
	msg := sprintf("record dated %v is outside the data period of consent %v", [object.get(_resource, "effective", null), c.id])
}

_required_kind := object.get(_vocab.consent_kinds, input.purpose, _vocab.consent_kinds["default"])

_listed(x, xs) if {
	is_array(xs)
	x in xs
}

_in_data_period(c) if {
	object.get(c, "data_from", null) == null
	object.get(c, "data_until", null) == null
}

_in_data_period(c) if {
	is_number(input.resource.effective)
	_not_before(object.get(c, "data_from", null), input.resource.effective)
	_before(object.get(c, "data_until", null), input.resource.effective)
}

_not_before(from, _) if from == null

_not_before(from, t) if {
	is_number(from)
	is_number(t)
	from <= t
}

_before(until, _) if until == null

_before(until, t) if {
	is_number(until)
	is_number(t)
	t < until
}

# --- sensitivity ------------------------------------------------------------------------------

default sensitive := false

sensitive if input.resource.category in _vocab.sensitive_categories

sensitive if count(_sensitive_labels) > 0

# Label codes are compared upper-cased; non-string labels are ignored (deny.rego rejects a
# labels value that is not a list).
_sensitive_labels contains code if {
	some label in object.get(_resource, "labels", [])
	is_string(label)
	code := upper(label)
	_ = data.consentry.labels.sensitive[code]
}

_label_category(code) := cat if {
	cat := data.consentry.labels.sensitive[code]
	cat != null
} else := input.resource.category

# The categories a record counts as: its own plus those its labels imply. A sensitive record is
# covered only by a consent naming every one of them explicitly; an exception of any excludes it.
_record_categories contains input.resource.category

_record_categories contains _label_category(code) if some code in _sensitive_labels
