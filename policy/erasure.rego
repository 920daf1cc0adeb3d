# METADATA
# title: Erasure by the patient or their proxy
# description: |
#   Input action "erase": may this subject erase this record from Consentry (its data key
#   destroyed, its body deleted)? subject.kind is "patient" (the patient) or "proxy" (a person
#   the patient named with the manage-consents scope); the service establishes that relationship
#   before it asks. The holder erases its own records without asking. Which categories each kind
#   may erase is data (data/erasure.json): by default the sensitive categories, never the
#   clinical record a holder must retain by law. Same decision shape as a read; obligations are
#   all off and consent_ids empty. Contract: docs/policy.md, "Erasure".
package consentry.authz

_erasure := data.consentry.erasure

_no_obligations := {"redact": [], "notify_patient": false, "review": false, "pseudonymise": false}

_erasure_decision := {
	"allow": _erase_allowed,
	"reasons": _erase_reasons,
	"obligations": _no_obligations,
	"consent_ids": [],
}

default _erase_allowed := false

_erase_allowed if {
	count(_erase_deny) == 0
	count(_erase_grants) > 0
}

_erase_reasons := sort(_erase_grants) if _erase_allowed
else := sort(_erase_deny) if count(_erase_deny) > 0
else := [sprintf("nothing lets %v erase records of category %v", [_erase_kind, _category])]

_erase_kind := object.get(_subject, "kind", null)

_erase_subject_names := {"patient": "the patient", "proxy": "a proxy with the manage-consents scope"}

_erase_categories := _erasure.erasable_by[_erase_kind] if {
	is_string(_erase_kind)
	is_array(_erasure.erasable_by[_erase_kind])
} else := []

_erase_deny contains sprintf("subject.kind %v may not erase records; only the patient, their proxy or the holder can", [_erase_kind]) if {
	not _erase_kind in object.keys(_erasure.erasable_by)
}

_erase_deny contains sprintf("category %v is not a known category", [_category]) if {
	not _category in _vocab.categories
}

_erase_deny contains "resource.labels must be a list of strings" if {
	not is_array(object.get(_resource, "labels", []))
}

_erase_deny contains msg if {
	_erase_kind in object.keys(_erasure.erasable_by)
	_category in _vocab.categories
	not _category in _erase_categories
	why := object.get(_erasure.retained, _category, "part of the medical record the holder must retain")
	msg := sprintf("%s may not erase category %s: %s; only the holder can erase it", [_erase_subject_names[_erase_kind], _category, why])
}

_erase_grants contains msg if {
	_category in _erase_categories
	msg := sprintf("%s may erase records of category %s", [_erase_subject_names[_erase_kind], _category])
}
