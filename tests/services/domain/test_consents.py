"""A model of the consent rules, checked against a real server by random sequences of consent
changes and fetches (hypothesis stateful testing).

The model below is written from the rules as the README and DESIGN state them, not from the
policy: a record of category c is shared with institution o for purpose p iff some consent to o
is active, within its validity, lists p, lists c (or "*" when c is not sensitive) and does not
except c, and the fetching physician's duties (policy/data/duties.json) allow c for p. An
institution with no consent in force learns nothing (the fetch is refused), and one with a
consent is told of a withheld record only when it is not sensitive (docs/disclosure.md).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace

import grpc
import hypothesis.strategies as st
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    multiple,
    rule,
    run_state_machine_as_test,
)

from consentry.policy.bundle import POLICY_DIR
from consentry.v1 import common_pb2, consent_pb2, exchange_pb2

SENSITIVE = "mental-health"
PLAIN = ("lab", "medication", "allergy", "imaging")
BROAD = "*"
PURPOSES = ("TREAT", "HPAYMT")
DUTIES = json.loads((POLICY_DIR / "data" / "duties.json").read_text())["roles"]["physician"]["purposes"]
HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS


def _ref(patient_id: str) -> dict:
    return {"reference": f"Patient/{patient_id}"}


def records(patient_id: str) -> dict[str, tuple[dict, str]]:
    """One record per category: (FHIR resource, category the holder states)."""
    return {
        "lab": ({"resourceType": "Observation", "status": "final", "code": {"text": "CRP"}, "subject": _ref(patient_id),
                 "category": [{"coding": [{"code": "laboratory"}]}], "effectiveDateTime": "2026-01-02"}, ""),
        "medication": ({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                        "subject": _ref(patient_id), "authoredOn": "2026-01-02",
                        "medicationCodeableConcept": {"text": "amoxicillin"}}, ""),
        "allergy": ({"resourceType": "AllergyIntolerance", "patient": _ref(patient_id),
                     "recordedDate": "2026-01-02"}, ""),
        "imaging": ({"resourceType": "ImagingStudy", "status": "available", "subject": _ref(patient_id)}, ""),
        SENSITIVE: ({"resourceType": "DocumentReference", "status": "current", "subject": _ref(patient_id),
                     "date": "2026-01-02T10:00:00Z", "content": [{"attachment": {"contentType": "text/plain"}}]},
                    SENSITIVE),
    }


@dataclass(frozen=True)
class Terms:
    categories: frozenset[str]
    purposes: frozenset[str]
    excepted: frozenset[str] = frozenset()
    valid_from: int | None = None
    valid_until: int | None = None

    def pb(self) -> consent_pb2.ConsentTerms:
        validity = common_pb2.Period(start=_ts(self.valid_from), end=_ts(self.valid_until))
        return consent_pb2.ConsentTerms(categories=sorted(self.categories), purposes=sorted(self.purposes),
                                        excepted_categories=sorted(self.excepted), validity=validity)


@dataclass
class ModelConsent:
    grantee: str
    terms: Terms
    revoked: bool = False

    def expired(self, now: int) -> bool:
        return self.terms.valid_until is not None and self.terms.valid_until <= now

    def changeable(self, now: int) -> bool:
        return not self.revoked and not self.expired(now)

    def in_force(self, now: int) -> bool:
        return self.changeable(now) and (self.terms.valid_from is None or self.terms.valid_from <= now)

    def covers(self, org: str, category: str, purpose: str, now: int) -> bool:
        t = self.terms
        named = category in t.categories or (BROAD in t.categories and category != SENSITIVE)
        return (self.grantee == org and self.in_force(now) and purpose in t.purposes and named
                and category not in t.excepted)


def _ts(ns: int | None) -> Timestamp | None:
    return None if ns is None else Timestamp(seconds=ns // 10**9, nanos=ns % 10**9)


def may_narrow(old: Terms, new: Terms) -> bool:
    covered = set(old.categories)
    if BROAD in old.categories:
        covered |= {c for c in new.categories if c != SENSITIVE}
    return new.categories <= covered


# -- strategies ------------------------------------------------------------------------------------

def subset(items, *, min_size=1):
    return st.lists(st.sampled_from(sorted(items)), min_size=min_size, unique=True).map(frozenset)


def validity(now: int):
    """No validity, lapsed, not yet valid, or in force: days away from now, so never racing the clock."""
    return st.sampled_from([(None, None), (now - DAY_NS, now + DAY_NS), (None, None),
                            (now - 2 * DAY_NS, now - DAY_NS), (now + DAY_NS, None)])


def exceptions():
    return st.lists(st.sampled_from([*PLAIN, SENSITIVE]), max_size=2, unique=True).map(frozenset)


@st.composite
def grant_terms(draw):
    categories = draw(subset([*PLAIN, SENSITIVE]))
    if draw(st.booleans()):
        categories |= {BROAD}
    start, end = draw(validity(time.time_ns()))
    return Terms(categories, draw(subset(PURPOSES)), draw(exceptions()), start, end)


@st.composite
def narrower(draw, old: Terms):
    """Mostly narrower terms; sometimes one added category (a widening when not covered)."""
    categories = draw(subset(old.categories))
    if draw(st.booleans()):  # a widening attempt, often the subtle one: a sensitive category under "*"
        categories |= {draw(st.sampled_from([SENSITIVE] * len(PLAIN) + list(PLAIN)))}
    excepted = old.excepted | draw(exceptions())
    start, end = old.valid_from, old.valid_until
    now = time.time_ns()
    if draw(st.booleans()) and (start is None or start < now - HOUR_NS):
        end = now - HOUR_NS  # narrowed to have ended already
    return Terms(categories, draw(subset(old.purposes)), excepted, start, end)


# -- the test ---------------------------------------------------------------------------------------

def test_fetches_agree_with_the_consent_model(harness):
    hospital = harness.org(prefix="holder")
    orgs = [harness.org(prefix="org-a"), harness.org(prefix="org-b")]  # physicians, by default
    by_id = {o.id: o for o in orgs}

    class ConsentModel(RuleBasedStateMachine):
        consents = Bundle("consents")
        requests = Bundle("requests")

        @initialize()
        def enrol_and_deposit(self):
            self.patient = harness.patient()
            self.model: dict[str, ModelConsent] = {}
            self.asked: dict[str, tuple[str, Terms]] = {}
            self.record_category = {}
            for category, (resource, stated) in records(self.patient.id).items():
                reply = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
                    patient_id=self.patient.id, fhir_json=json.dumps(resource).encode(), category=stated))
                assert reply.record.category == category
                self.record_category[reply.record.record_id] = category

        def consent_api(self):  # the patient's own
            return self.patient.client.consent

        @rule(target=consents, org=st.sampled_from([0, 1]), terms=grant_terms())
        def grant(self, org, terms):
            got = self.consent_api().GrantConsent(consent_pb2.GrantConsentRequest(
                patient_id=self.patient.id, grantee=orgs[org].id, notice=orgs[org].notice, terms=terms.pb())).consent
            self.model[got.consent_id] = ModelConsent(orgs[org].id, terms)
            expired = self.model[got.consent_id].expired(time.time_ns())
            assert got.status == (consent_pb2.CONSENT_STATUS_EXPIRED if expired else consent_pb2.CONSENT_STATUS_ACTIVE)
            self.check_fetch(orgs[org], "TREAT")
            return got.consent_id

        @rule(consent_id=consents, data=st.data())
        def narrow(self, consent_id, data):
            current = self.model[consent_id]
            new = data.draw(narrower(current.terms))
            changeable = current.changeable(time.time_ns())
            try:
                got = self.consent_api().NarrowConsent(consent_pb2.NarrowConsentRequest(
                    consent_id=consent_id, terms=new.pb())).consent
            except grpc.RpcError as err:  # the model decides whether a refusal is right, and which
                expected = grpc.StatusCode.INVALID_ARGUMENT if changeable else grpc.StatusCode.FAILED_PRECONDITION
                assert err.code() == expected, err.details()  # noqa: PT017  (either outcome may be right)
                assert not (changeable and may_narrow(current.terms, new)), err.details()  # noqa: PT017
                return
            assert changeable and may_narrow(current.terms, new)
            assert got.consent_id == consent_id and sorted(got.categories) == sorted(new.categories)
            self.model[consent_id] = replace(current, terms=new)
            self.check_fetch(by_id[current.grantee], "TREAT")

        @rule(consent_id=consents)
        def revoke(self, consent_id):
            current = self.model[consent_id]
            changeable = current.changeable(time.time_ns())
            try:
                self.consent_api().RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent_id))
            except grpc.RpcError as err:  # the model decides whether a refusal is right
                assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and not changeable, err.details()  # noqa: PT017
                return
            assert changeable
            current.revoked = True
            self.check_fetch(by_id[current.grantee], "TREAT")

        @rule(consent_id=consents)
        def read_status(self, consent_id):
            got = self.consent_api().GetConsent(consent_pb2.GetConsentRequest(consent_id=consent_id)).consent
            current = self.model[consent_id]
            expected = (consent_pb2.CONSENT_STATUS_REVOKED if current.revoked else
                        consent_pb2.CONSENT_STATUS_EXPIRED if current.expired(time.time_ns()) else
                        consent_pb2.CONSENT_STATUS_ACTIVE)
            assert got.status == expected

        @rule(target=requests, org=st.sampled_from([0, 1]), categories=subset([*PLAIN, BROAD, SENSITIVE]),
              purposes=subset(PURPOSES))
        def request_access(self, org, categories, purposes):
            asked = Terms(categories, purposes)
            got = orgs[org].client.consent.RequestAccess(consent_pb2.RequestAccessRequest(notice=orgs[org].notice,
                patient_id=self.patient.id, terms=asked.pb(), reason="follow-up")).request
            self.asked[got.request_id] = (orgs[org].id, asked)
            return got.request_id

        @rule(target=consents, request_id=requests, data=st.data())
        def approve(self, request_id, data):
            requester, asked = self.asked.pop(request_id, (None, None))
            if asked is None:  # already answered
                self._refused_as_answered(self.consent_api().ApproveAccessRequest,
                                          consent_pb2.ApproveAccessRequestRequest(request_id=request_id))
                return multiple()
            terms = asked
            narrow = data.draw(st.booleans())
            if narrow:
                terms = Terms(data.draw(subset(asked.categories)), data.draw(subset(asked.purposes)),
                              data.draw(exceptions()))
            got = self.consent_api().ApproveAccessRequest(consent_pb2.ApproveAccessRequestRequest(
                request_id=request_id, terms=terms.pb() if narrow else None))
            assert got.request.status == consent_pb2.ACCESS_REQUEST_STATUS_APPROVED
            assert got.consent.grantee == requester
            self.model[got.consent.consent_id] = ModelConsent(requester, terms)
            self.check_fetch(by_id[requester], "TREAT")
            return got.consent.consent_id

        @rule(request_id=requests)
        def decline(self, request_id):
            if self.asked.pop(request_id, None) is None:
                self._refused_as_answered(self.consent_api().DeclineAccessRequest,
                                          consent_pb2.DeclineAccessRequestRequest(request_id=request_id))
                return
            got = self.consent_api().DeclineAccessRequest(consent_pb2.DeclineAccessRequestRequest(
                request_id=request_id, reason="no"))
            assert got.request.status == consent_pb2.ACCESS_REQUEST_STATUS_DECLINED

        @staticmethod
        def _refused_as_answered(call, request):
            with pytest.raises(grpc.RpcError) as err:  # an answered request is never answered again
                call(request)
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION, err.value.details()

        @rule(org=st.sampled_from([0, 1]), purpose=st.sampled_from(PURPOSES))
        def fetch(self, org, purpose):
            self.check_fetch(orgs[org], purpose)

        def check_fetch(self, fetcher, purpose):
            now = time.time_ns()
            if not any(c.grantee == fetcher.id and c.in_force(now) for c in self.model.values()):
                with pytest.raises(grpc.RpcError) as err:  # no consent in force: nothing to learn
                    list(fetcher.client.fetch(self.patient.id, purpose, recipient_key=fetcher.encryption,
                                              service_key=harness.service_key))
                assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
                return
            got = list(fetcher.client.fetch(self.patient.id, purpose, recipient_key=fetcher.encryption,
                                            service_key=harness.service_key))
            allowed = {record_id for record_id, category in self.record_category.items()
                       if category in DUTIES.get(purpose, [])
                       and any(c.covers(fetcher.id, category, purpose, now) for c in self.model.values())}
            # Withheld records are named only when not sensitive (the fetcher holds none of them).
            named = allowed | {r for r, category in self.record_category.items() if category != SENSITIVE}
            assert {r.record_id for r in got} == named
            for item in got:
                assert item.shared == (item.record_id in allowed), (item.category, purpose, item.reasons)

    run_state_machine_as_test(ConsentModel, settings=settings(
        max_examples=25, stateful_step_count=15, deadline=None,
        suppress_health_check=[HealthCheck.too_slow]))
