# METADATA
# title: Consent matching and record sensitivity
# description: |
#   A consent covers a record when every check below holds. Periods are half-open,
#   [from, until), epoch nanoseconds; null means unbounded. A consent whose categories
#   contain data.consentry.vocabulary.broad_category ("*") is broad: it covers the
#   non-sensitive categories listed in its broad_categories (what "*" stood for when the patient
#   agreed) and never a sensitive record.
package consentry.authz

_consents := [c | some c in _consent_list; is_object(c)]

_consent_list := input.consents if is_array(input.consents) else := []

# Hot path, evaluated on every decision. Regorus charges ~0.1 us to step through a consent,
# ~0.2-0.3 us per inline comparison or `in`, but ~1.5 us for a nested `some` and ~2.5 us per
# call of a user function, per consent. So each body first rejects a consent with inline
# membership tests on the selective fields (category, purpose, status), which cost no guard: `in`
# on a non-array is false and a field of a non-object is undefined; only the few candidates left
# pay for _covers_rest, which checks everything again with type guards. _problems below states
# the same checks one by one to explain a deny and is evaluated only when nothing granted access.
# The two must agree: tests/policy/test_rego_unit.py checks that on every decision-table case.
_covering_ids contains c.id if {
	not sensitive
	category := _category
	purpose := input.purpose
	some c in _consent_list
	category in c.categories
	purpose in c.purposes
	c.status == "active"
	_covers_rest(c)
}

# Broad: "*" covers the non-sensitive categories the consent lists in broad_categories (a second
# body is cheaper than a nested loop); without that list it covers nothing.
_covering_ids contains c.id if {
	not sensitive
	broad := _vocab.broad_category
	category := _category
	purpose := input.purpose
	some c in _consent_list
	broad in c.categories
	category in c.broad_categories
	purpose in c.purposes
	c.status == "active"
	_covers_rest(c)
}

# Sensitive: the consent must name every category the record counts as, its own included.
_covering_ids contains c.id if {
	sensitive
	not _own_consent_record
	category := _category
	purpose := input.purpose
	some c in _consent_list
	category in c.categories
	purpose in c.purposes
	c.status == "active"
	is_array(c.categories)
	count(_record_categories - {name | some name in c.categories}) == 0
	_covers_rest(c)
}

# Psychotherapy notes (HIPAA 164.508(a)(2), (b)(3)(ii)): a record that counts as a category
# needing a consent of its own is covered only by a consent naming that one category alone.
_covering_ids contains c.id if {
	_own_consent_record
	purpose := input.purpose
	some c in _consent_list
	purpose in c.purposes
	c.status == "active"
	_alone_for_record(c)
	_covers_rest(c)
}

_own_consent_record if {
	some name in _record_categories
	name in _vocab.own_consent_categories
}

_alone_for_record(c) if {
	some name in _record_categories
	name in _vocab.own_consent_categories
	c.categories == [name]
}

_covers_rest(c) if {
	is_array(c.categories)
	is_array(c.purposes)
	input.purpose in c.purposes
	c.status == "active"
	c.grantee == input.subject.org
	c.kind == _required_kind
	is_string(c.id)
	excepted := object.get(c, "excepted", [])
	is_array(excepted)
	not _any_excepted(excepted)
	_in_window(object.get(c, "valid_from", null), object.get(c, "valid_until", null), input.now)
	_in_window(object.get(c, "data_from", null), object.get(c, "data_until", null), _effective)
}

# t in the half-open window [from, until); a null bound is open, so (null, null) holds for any
# t, even null (no data period: every record, dated or not). Written as an else-chain because
# regorus evaluates every body of a multi-body function; this stops at the first that holds.
# The branches exclude one another (each fixes which bounds are null), so their order is only
# cost: regorus charges ~2-3 us per branch tried, and the commonest windows come first: no data
# period (null, null), then a validity with both bounds, then one without an end.
_in_window(from, until, t) := true if {
	from == null
	until == null
} else := true if {
	is_number(from)
	is_number(until)
	is_number(t)
	from <= t
	t < until
} else := true if {
	until == null
	is_number(from)
	is_number(t)
	from <= t
} else := true if {
	from == null
	is_number(until)
	is_number(t)
	t < until
}

_any_excepted(excepted) if {
	some name in excepted
	name in _record_categories
}

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

_problems contains [i, sprintf("consent %v does not cover category %v", [c.id, _category])] if {
	not sensitive
	some i, c in _consents
	not _listed(_category, c.categories)
	not _broadly_covered(c)
}

_broadly_covered(c) if {
	_listed(_vocab.broad_category, c.categories)
	_listed(_category, object.get(c, "broad_categories", []))
}

_problems contains [i, sprintf("consent %v does not name sensitive category %v", [c.id, name])] if {
	sensitive
	some i, c in _consents
	not _alone_for_record(c)
	some name in _record_categories
	not _listed(name, c.categories)
}

_problems contains [i, sprintf("consent %v names more than %v, which needs a consent of its own", [c.id, name])] if {
	some i, c in _consents
	some name in _record_categories
	name in _vocab.own_consent_categories
	_listed(name, c.categories)
	not c.categories == [name]
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
	not _in_window(object.get(c, "data_from", null), object.get(c, "data_until", null), _effective)
	msg := _outside_data_period(c.id)
}

# A record without a clinical date (effective null) falls in no bounded data period: the patient's
# history says so in words rather than as "dated null" (docs/labelling.md, "Clinical dates").
_outside_data_period(id) := sprintf("record has no clinical date, so it is outside the data period of consent %v", [id]) if {
	not is_number(_effective)
} else := sprintf("record dated %v is outside the data period of consent %v", [_effective, id])

_required_kind := object.get(_vocab.consent_kinds, input.purpose, _vocab.consent_kinds["default"])

_listed(x, xs) if {
	is_array(xs)
	x in xs
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

sensitive if _category in _vocab.sensitive_categories

sensitive if count(_sensitive_labels) > 0

_labels := _resource.labels if is_array(_resource.labels) else := []

# Label codes are compared upper-cased; non-string labels are ignored (deny.rego rejects a
# labels value that is not a list).
_sensitive_labels contains code if {
	some label in _labels
	is_string(label)
	code := upper(label)
	_ = data.consentry.labels.sensitive[code]
}

_label_category(code) := cat if {
	cat := data.consentry.labels.sensitive[code]
	cat != null
} else := _category

# The categories a record counts as: its own plus those its labels imply. A sensitive record is
# covered only by a consent naming every one of them explicitly; an exception of any excludes it.
_record_categories contains _category

_record_categories contains _label_category(code) if some code in _sensitive_labels
