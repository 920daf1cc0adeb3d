"""The demo's home-monitoring step (docs/readings.md): a week of blood-pressure readings, morning
and evening, from the patient and the daughter they named with the report-readings scope, reach
Dr Chen's fetch under a vital-signs consent, and he reads them as a table after decrypting."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from google.protobuf.timestamp_pb2 import Timestamp
from nacl.public import PrivateKey

from consentry.services import clock
from consentry.services.sdk import readings
from consentry.services.sdk.client import Client
from consentry.v1 import common_pb2, consent_pb2

if TYPE_CHECKING:
    from consentry.services.cli.demo import Story

DAYS, TIMES = 7, ((7, 30), (20, 0))  # a week, twice a day


def week_of_readings(now: datetime) -> list[tuple[datetime, int, int]]:
    """(taken, systolic, diastolic) for the last DAYS days, oldest first, in plausible values."""
    start = (now - timedelta(days=DAYS)).replace(second=0, microsecond=0)
    out = []
    for day in range(DAYS):
        for n, (hour, minute) in enumerate(TIMES):
            i = 2 * day + n
            out.append((start.replace(hour=hour, minute=minute) + timedelta(days=day),
                        126 + (i * 7) % 17, 78 + (i * 5) % 11))
    return out


def play(story: Story, patient: Client, daughter: Client, doctor: Client, doctor_key: PrivateKey) -> None:
    ids = story.ids
    story.say("9. Home monitoring: a week of blood-pressure readings, from the patient and the daughter")
    patient.consent.AddProxy(consent_pb2.AddProxyRequest(
        patient_id=ids["patient"], proxy_id=ids["daughter"], relationship="daughter",
        scopes=[consent_pb2.PROXY_SCOPE_REPORT_READINGS]))
    filed = []
    for i, (taken, systolic, diastolic) in enumerate(week_of_readings(clock.now_utc())):
        reporter = daughter if i % 2 else patient  # the daughter takes the evening readings
        reply = reporter.put_observation(ids["patient"], readings.blood_pressure(ids["patient"], systolic,
                                                                                 diastolic, taken))
        filed.append(reply.record)
    story.check(len(filed) == 2 * DAYS and all(r.patient_reported for r in filed),
                f"{len(filed)} readings filed as patient-reported; the evening ones by the daughter (proxy)")
    consent = patient.consent.GrantConsent(consent_pb2.GrantConsentRequest(
        patient_id=ids["patient"], grantee=ids["doctor"], notice=story.notices["doctor"],
        terms=consent_pb2.ConsentTerms(kind=consent_pb2.CONSENT_KIND_TREATMENT, categories=["vital-signs"],
                                       purposes=["TREAT"], validity=common_pb2.Period(end=_in_days(30))))).consent
    story.check(consent.status == consent_pb2.CONSENT_STATUS_ACTIVE, "consent: vital-signs for TREAT, 30 days")
    got = [r for r in story.fetch(doctor, doctor_key, "TREAT") if r.body is not None]
    rows = sorted(_row(r.resource()) for r in got)
    story.console.print("    Dr Chen reads, decrypted:")
    story.console.print("    taken (UTC)        systolic  diastolic  mm[Hg]")
    for when, high, low in rows:
        story.console.print(f"    {when:<18} {high:>8g}  {low:>9g}")
    story.check({r.record_id for r in got} == {r.record_id for r in filed},
                "exactly the 14 readings were shared with Dr Chen, and nothing else of the patient's")
    patient.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))


def _row(body: dict) -> tuple[str, float, float]:
    values = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in body["component"]}
    taken = body["effectiveDateTime"][:16].replace("T", " ")
    return taken, values["8480-6"], values["8462-4"]


def _in_days(days: int) -> Timestamp:
    when = Timestamp()
    when.FromDatetime(clock.now_utc() + timedelta(days=days))
    return when
