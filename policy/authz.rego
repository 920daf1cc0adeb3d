# METADATA
# title: Consentry record-access decision
# description: |
#   One decision per (subject, purpose, record): whether to disclose it (action "read", these
#   rules) or whether the patient may erase it (action "erase", erasure.rego). Default deny. The contract of `input` and of
#   `decision` is in docs/policy.md; static data (vocabulary, labels, duties, institution kinds,
#   emergency set, obligations) is mounted at data.consentry.<file stem> from policy/data/*.json.
#
#   Engine note: no `every` here. rego-cpp (regopy) evaluates `every x in xs { not ... }` as
#   always true, which fails open; counting a comprehension is equally clear and correct on
#   every engine we run.
package consentry.authz

_vocab := data.consentry.vocabulary

_roles := data.consentry.duties.roles

_kinds := data.consentry.institutions.kinds

_emergency := data.consentry.emergency

# decision is always defined: a complete rule built from rules that each have a default.
# Action "erase" is decided by erasure.rego; everything else by the read rules below (which deny
# an unknown action).
decision := _erasure_decision if {
	input.action == "erase"
} else := _plain_grant if {
	_plain_read
	count(_covering_ids) > 0
} else := _read_decision

_read_decision := {
	"allow": allow,
	"reasons": reasons,
	"obligations": obligations,
	"consent_ids": consent_ids,
}

# Hot path: a plain read (deny.rego: no hard denial possible, never an emergency) that a consent
# covers, the usual answer to a fetch, is granted here with the values _read_decision gives on
# allow, without evaluating allow, deny, _granted, break_glass, reasons and consent_ids on the
# way. Regorus charges ~5-8 us per rule it evaluates, again for every record of a batch (`with`
# clears every rule value), so this is ~15-20% of a granted decision. It must equal
# _read_decision whenever decision takes it: tests/policy/test_rego_unit.py checks that on every
# table case, test_policy_fuzz.py on damaged inputs.
_plain_grant := {
	"allow": true,
	"reasons": sort(_allow_reasons),
	"obligations": _obligations_granted,
	"consent_ids": sort(_covering_ids),
}

default allow := false

allow if {
	count(deny) == 0
	_granted
}

_granted if count(_covering_ids) > 0

_granted if break_glass

consent_ids := sort(_covering_ids) if allow else := []

reasons := sort(_allow_reasons) if allow
else := sort(deny) if count(deny) > 0
else := sort(_not_granted)

obligations := _obligations_granted if allow else := {
	"redact": [],
	"notify_patient": false,
	"review": false,
	"pseudonymise": false,
}

_obligations_granted := {
	"redact": object.get(data.consentry.obligations.redact, input.purpose, []),
	"notify_patient": _emergency_purpose,
	"review": _emergency_purpose,
	"pseudonymise": _research_purpose,
}

# Any emergency access is notified and reviewed, with or without a consent behind it.
default _emergency_purpose := false

_emergency_purpose if input.purpose == _emergency.purpose

default _research_purpose := false

_research_purpose if input.purpose == "HRESCH"

# --- break-the-glass --------------------------------------------------------------------------

default break_glass := false

break_glass if {
	input.purpose == _emergency.purpose
	_roles[input.subject.role].clinician == true
	_kinds[input.subject.kind].delivers_care == true
	_emergency_declared
	_category in _emergency.categories
	not sensitive
}

_emergency_declared if {
	input.emergency.declared == true
	is_string(input.emergency.reason)
	trim_space(input.emergency.reason) != ""
}

# --- reasons ------------------------------------------------------------------------------------

_allow_reasons contains msg if {
	some id in _covering_ids
	msg := sprintf("consent %s covers category %s for purpose %s", [id, _category, input.purpose])
}

_allow_reasons contains msg if {
	count(_covering_ids) == 0
	break_glass
	msg := sprintf("break-the-glass: emergency access to %s without consent", [_category])
}

# Why nothing granted access, when no hard rule denied it (see deny.rego for those).
_not_granted contains msg if {
	msg := sprintf("no active consent from the patient covers category %s for purpose %s", [_category, input.purpose])
}

_not_granted contains msg if {
	_category in _vocab.sensitive_categories
	msg := sprintf("category %s is sensitive and needs a consent that names it", [_category])
}

# concat, not sprintf: rego-cpp (regopy) renders an upper()-made string with its JSON quotes
# under sprintf %s, which would make the cross-engine tables disagree.
_not_granted contains msg if {
	some label in _sensitive_labels
	msg := concat("", ["sensitive label ", label, " needs a consent that names category ", _label_category(label)])
}

_not_granted contains msg if {
	some [_, msg] in _problems
}

_not_granted contains msg if {
	input.purpose == _emergency.purpose
	not _category in _emergency.categories
	msg := sprintf("break-the-glass does not reach category %s", [_category])
}

_not_granted contains "break-the-glass never reaches a sensitive record" if {
	input.purpose == _emergency.purpose
	sensitive
}
