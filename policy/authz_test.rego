# METADATA
# title: Unit tests for consentry.authz
# description: Run by tests/policy/test_rego_unit.py on the embedded engine (every test_* rule).
package consentry.authz_test

import data.consentry.authz

_now := 1800000000000000000

_consent := {
	"id": "c1", "grantee": "clinic-7", "categories": ["lab"], "purposes": ["TREAT"],
	"data_from": null, "data_until": null, "valid_from": 1700000000000000000, "valid_until": null,
	"excepted": [], "status": "active", "kind": "treatment",
	"broad_categories": ["demographics", "encounter", "discharge-summary", "medication", "lab", "imaging", "allergy", "immunization", "procedure", "condition", "vital-signs", "care-plan", "social-history", "survey", "exam", "clinical-test", "clinical-note", "other"],
}

_input := {
	"subject": {"org": "clinic-7", "kind": "clinic", "role": "physician", "practitioner": "prac-1"},
	"action": "read",
	"purpose": "TREAT",
	"emergency": {"declared": false, "reason": ""},
	"resource": {"patient": "pat-1", "record": "rec-1", "category": "lab", "labels": [], "holder": "hosp-1", "effective": 1750000000000000000},
	"consents": [_consent],
	"now": _now,
}

_with_resource(patch) := object.union(_input, {"resource": object.union(_input.resource, patch)})

_with_consent(patch) := object.union(_input, {"consents": [object.union(_consent, patch)]})

test_matching_consent_allows if {
	d := authz.decision with input as _input
	d.allow == true
	d.consent_ids == ["c1"]
}

test_default_deny_on_empty_input if {
	d := authz.decision with input as {}
	d.allow == false
	count(d.reasons) > 0
}

test_no_consent_denies_with_reason if {
	d := authz.decision with input as object.union(_input, {"consents": []})
	d.allow == false
	d.reasons == ["no active consent from the patient covers category lab for purpose TREAT"]
}

test_revoked_consent_denies if {
	d := authz.decision with input as _with_consent({"status": "revoked"})
	d.allow == false
	"consent c1 is revoked" in d.reasons
}

test_broad_consent_covers_lab if {
	authz.allow with input as _with_consent({"categories": ["*"]})
}

test_broad_consent_never_covers_sensitive if {
	inp := object.union(_with_consent({"categories": ["*"]}), {"resource": object.union(_input.resource, {"category": "mental-health"})})
	d := authz.decision with input as inp
	d.allow == false
	"category mental-health is sensitive and needs a consent that names it" in d.reasons
}

_psychotherapy_note := object.union(_input.resource, {"category": "psychotherapy-notes"})

test_psychotherapy_notes_are_covered_by_a_consent_naming_them_alone if {
	inp := object.union(_with_consent({"categories": ["psychotherapy-notes"]}), {"resource": _psychotherapy_note})
	d := authz.decision with input as inp
	d.consent_ids == ["c1"]
}

test_psychotherapy_notes_are_not_covered_by_a_consent_naming_more if {
	inp := object.union(_with_consent({"categories": ["mental-health", "psychotherapy-notes"]}), {"resource": _psychotherapy_note})
	d := authz.decision with input as inp
	d.allow == false
	"consent c1 names more than psychotherapy-notes, which needs a consent of its own" in d.reasons
}

test_a_psythpn_label_needs_a_consent_naming_psychotherapy_notes_alone if {
	labelled := _with_resource({"category": "clinical-note", "labels": ["PSYTHPN"]})
	not authz.allow with input as object.union(labelled, {"consents": [object.union(_consent, {"categories": ["clinical-note", "psychotherapy-notes"]})]})
	authz.allow with input as object.union(labelled, {"consents": [object.union(_consent, {"categories": ["psychotherapy-notes"]})]})
}

test_sensitive_label_makes_record_sensitive if {
	authz.sensitive with input as _with_resource({"labels": ["PSY"]})
	not authz.allow with input as object.union(_with_resource({"labels": ["PSY"]}), {"consents": [object.union(_consent, {"categories": ["*"]})]})
}

test_validity_is_half_open if {
	authz.allow with input as object.union(_with_consent({"valid_until": _now + 1}), {})
	not authz.allow with input as _with_consent({"valid_until": _now})
}

test_admin_clerk_never_reads_discharge_summary if {
	inp := object.union(_with_resource({"category": "discharge-summary"}), {
		"subject": object.union(_input.subject, {"role": "admin-clerk"}),
		"consents": [object.union(_consent, {"categories": ["*"]})],
	})
	d := authz.decision with input as inp
	d.reasons == ["role admin-clerk may not read discharge-summary for TREAT"]
}

_emergency := object.union(_with_resource({"category": "allergy"}), {
	"purpose": "ETREAT",
	"emergency": {"declared": true, "reason": "anaphylaxis, ED"},
	"consents": [],
})

test_break_the_glass_allows_with_obligations if {
	d := authz.decision with input as _emergency
	d.allow == true
	d.consent_ids == []
	d.obligations.notify_patient == true
	d.obligations.review == true
}

test_break_the_glass_needs_a_reason if {
	not authz.allow with input as object.union(_emergency, {"emergency": {"declared": true, "reason": " "}})
}

test_break_the_glass_needs_a_clinician if {
	not authz.allow with input as object.union(_emergency, {"subject": object.union(_input.subject, {"role": "admin-clerk"})})
}

_at(kind) := object.union(_emergency, {"subject": object.union(_input.subject, {"kind": kind})})

test_break_the_glass_at_every_kind_that_delivers_care if {
	authz.allow with input as _at("hospital")
	authz.allow with input as _at("clinic")
	authz.allow with input as _at("family-doctor")
}

test_an_insurer_claiming_a_physician_cannot_break_the_glass if {
	d := authz.decision with input as _at("insurer")
	d.allow == false
	d.reasons == [
		"an institution of kind insurer cannot have role physician",
		"break-the-glass needs a care-delivering institution; kind insurer is not one",
	]
}

test_a_laboratory_cannot_break_the_glass if {
	d := authz.decision with input as _at("laboratory")
	d.allow == false
	"break-the-glass needs a care-delivering institution; kind laboratory is not one" in d.reasons
}

# Even if the data gave a laboratory a clinician, the care rule alone keeps the glass shut.
test_break_the_glass_needs_care_even_for_a_role_the_kind_has if {
	not authz.break_glass with input as _at("laboratory")
		with data.consentry.institutions.kinds.laboratory as {"delivers_care": false, "roles": ["physician"]}
	authz.break_glass with input as _at("laboratory")
		with data.consentry.institutions.kinds.laboratory as {"delivers_care": true, "roles": ["physician"]}
}

test_a_role_the_kind_cannot_have_reads_nothing if {
	inp := object.union(_input, {"subject": object.union(_input.subject, {"kind": "insurer"})})
	d := authz.decision with input as inp
	d.allow == false
	d.reasons == ["an institution of kind insurer cannot have role physician"]
}

test_an_unknown_or_missing_kind_reads_nothing if {
	d := authz.decision with input as object.union(_input, {"subject": object.union(_input.subject, {"kind": "pharmacy"})})
	d.reasons == ["institution kind pharmacy is not a known kind"]
	d2 := authz.decision with input as json.remove(_input, ["subject/kind"])
	d2.reasons == ["institution kind null is not a known kind"]
}

test_research_needs_research_consent if {
	researcher := {"kind": "research-registry", "role": "researcher"}
	inp := object.union(_input, {"subject": object.union(_input.subject, researcher), "purpose": "HRESCH"})
	not authz.allow with input as object.union(inp, {"consents": [object.union(_consent, {"purposes": ["HRESCH"]})]})
	d := authz.decision with input as object.union(inp, {"consents": [object.union(_consent, {"purposes": ["HRESCH"], "kind": "research"})]})
	d.allow == true
	d.obligations.pseudonymise == true
}

test_batch_keeps_order if {
	ds := authz.decisions with input as {"batch": [_input, {}, _emergency]}
	[d.allow | some d in ds] == [true, false, true]
}

test_shared_batch_keeps_order_and_shares_consents if {
	shared := object.remove(_input, ["resource"])
	resources := [_input.resource, object.union(_input.resource, {"category": "mental-health"}), object.union(_input.resource, {"category": "imaging"})]
	ds := authz.decisions with input as object.union(shared, {"resources": resources})
	[d.allow | some d in ds] == [true, false, false]
	ds[0].consent_ids == ["c1"]
}

_erase := {
	"subject": {"kind": "patient"},
	"action": "erase",
	"resource": object.union(_input.resource, {"category": "substance-use"}),
	"now": _now,
}

test_patient_erases_a_sensitive_record if {
	d := authz.decision with input as _erase
	d.allow == true
	d.consent_ids == []
	d.reasons == ["the patient may erase records of category substance-use"]
}

test_patient_may_not_erase_a_retained_record if {
	d := authz.decision with input as object.union(_erase, {"resource": {"category": "discharge-summary"}})
	d.allow == false
	contains(d.reasons[0], "only the holder can erase it")
}

test_erase_is_not_a_read if {
	not authz.allow with input as object.union(_input, {"action": "erase"})
}
