"""`consentry demo`: the post-discharge story, played over gRPC against a real server.

A hospital discharges a patient; the record follows the patient to the family doctor, as far as
the patient consented, and no further. Every step is checked; `run` returns the number of steps
that did not behave as they must (0 = all good).

Against a running server (`--target`) this is a client command; without one it starts a server,
which needs the server install.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import typer
from google.protobuf.timestamp_pb2 import Timestamp
from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey
from rich.console import Console

from consentry.ledger.checkpoint import NoteVerifier
from consentry.ledger.verification import verify_log
from consentry.services.cli import demo_readings, demo_serving
from consentry.services.cli.audit import stream_entries
from consentry.services.cli.common import DataDir, require_server, settings
from consentry.services.cli.datadir import ledger_signer, operator_key, share_verify_key
from consentry.services.cli.demo_live import LiveFeed
from consentry.services.cli.server import start
from consentry.services.config import Settings, client_root_certificates
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client, FetchedRecord
from consentry.services.signer import Ed25519Signer
from consentry.v1 import audit_pb2, common_pb2, consent_pb2, exchange_pb2, registry_pb2


def demo(target: str | None = typer.Option(None, help="HOST:PORT of a running server; default: start one"),
         data_dir: Path | None = DataDir,
         keep_serving: bool = typer.Option(False, "--keep-serving",
                                           help="After the story, keep the server (and its portal) running "
                                                "until Ctrl-C, to try the pages")) -> None:
    """Play the post-discharge story over gRPC; exit non-zero if any step misbehaves."""
    if target is None:
        require_server("demo")
        from consentry.services.cli.bootstrap import init_data_dir

        with tempfile.TemporaryDirectory(prefix="consentry-demo-") as tmp:
            config = settings(Path(tmp))
            init_data_dir(config)
            server = start(config, "127.0.0.1:0", http="127.0.0.1:0")
            typer.echo(f"started a server on 127.0.0.1:{server.port} with a temporary data directory")
            assert server.web is not None
            typer.echo(f"web front door: {server.web.url} (patient portal: {server.web.url}portal/, "
                       f"auditor page: {server.web.url}auditor/)")
            try:
                failures = _play(f"127.0.0.1:{server.port}", config)
                if keep_serving:
                    demo_serving.keep_serving(f"127.0.0.1:{server.port}", server.web.url, config)
            finally:
                server.stop()
    else:
        if keep_serving:
            raise typer.BadParameter("--keep-serving keeps the server the demo starts: leave out --target")
        failures = _play(target, settings(data_dir))
    raise typer.Exit(1 if failures else 0)


def _play(target: str, config: Settings) -> int:
    return run_story(target, operator_key(config), share_verify_key(config), ledger_signer(config).verifier.to_key())


_UUID = re.compile(r"([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def why(reasons: Iterable[str], limit: int = 200) -> str:
    """The reason a reader of this story cares about: the consent's, when there is one."""
    reasons = list(reasons) or ["refused"]
    chosen = next((r for r in reasons if "consent" in r), reasons[0])
    chosen = _UUID.sub(r"\1", chosen)
    return chosen if len(chosen) <= limit else chosen[: limit - 1] + "…"


def _fhir(resource: dict) -> bytes:
    return json.dumps(resource).encode()


def discharge_records(patient: str) -> dict[str, bytes]:
    """Four records a hospital writes at discharge (synthetic, no real person)."""
    ref = {"reference": f"Patient/{patient}"}
    return {
        "discharge summary": _fhir({
            "resourceType": "Composition", "status": "final", "subject": ref, "date": "2026-11-20",
            "type": {"coding": [{"system": "http://loinc.org", "code": "18842-5", "display": "Discharge summary"}]},
            "title": "Discharge summary: community-acquired pneumonia, recovered",
            "author": [{"display": "Discharging physician, general medicine"}],
        }),
        "medication list": _fhir({
            "resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": ref,
            "authoredOn": "2026-11-20",
            "medicationCodeableConcept": {"text": "amoxicillin 500 mg, three times daily for 5 days"},
        }),
        "lab results": _fhir({
            "resourceType": "Observation", "status": "final", "subject": ref,
            "effectiveDateTime": "2026-11-19T08:30:00Z",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "1988-5", "display": "C reactive protein"}]},
            "valueQuantity": {"value": 12, "unit": "mg/L"},
        }),
        # No security label and no category from the hospital: the service labels it PSY from its
        # practice setting, psychiatry (docs/labelling.md).
        "psychiatric note": _fhir({
            "resourceType": "DocumentReference", "status": "current", "subject": ref, "date": "2026-11-18T15:00:00Z",
            "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4", "display": "Consult note"}]},
            "context": {"practiceSetting": {"coding": [{"system": "http://snomed.info/sct", "code": "394587001",
                                                        "display": "Psychiatry"}]}},
            "description": "Liaison psychiatry consult during admission",
            "content": [{"attachment": {"contentType": "text/plain", "title": "Consult note",
                                        "data": base64.b64encode(b"Seen on the ward; plan agreed.").decode()}}],
        }),
    }


class Story:
    def __init__(self, target: str, operator_key: Ed25519Signer, service_key: VerifyKey, ledger_key: str,
                 console: Console | None = None) -> None:
        self.target = target
        self.service_key = service_key
        self.ledger_key = ledger_key
        self.console = console or Console(highlight=False, width=120)
        self.failures = 0
        self.notices: dict[str, common_pb2.NoticeRef] = {}
        self.roots = client_root_certificates()  # TLS when $CONSENTRY_TLS_CA names the server's CA
        self.operator = Client(target, Caller("operator", operator_key), root_certificates=self.roots)
        run = secrets.token_hex(3)  # lets the story run again against the same server
        self.ids = {"hospital": f"riverside-hospital-{run}", "doctor": f"dr-chen-practice-{run}",
                    "registry": f"heart-registry-{run}", "patient": f"patient-{run}", "auditor": f"ombudsman-{run}",
                    "daughter": f"patient-{run}-daughter"}

    # -- narration ------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.console.print(f"\n[bold]{text}[/bold]")

    def check(self, ok: bool, text: str) -> None:
        mark = "[green]ok[/green]  " if ok else "[red]FAIL[/red]"
        self.console.print(f"  {mark} {text}")
        if not ok:
            self.failures += 1

    # -- actors ---------------------------------------------------------------------------

    def _institution(self, key: str, name: str, kind: registry_pb2.InstitutionKind, role: str,
                     practitioner: str) -> tuple[Client, PrivateKey]:
        identity, encryption = SigningKey.generate(), PrivateKey.generate()
        self.operator.registry.RegisterInstitution(registry_pb2.RegisterInstitutionRequest(
            institution_id=self.ids[key], display_name=name, kind=kind,
            identity_public_key=bytes(identity.verify_key), encryption_public_key=bytes(encryption.public_key)))
        self.operator.registry.RegisterPractitioner(registry_pb2.RegisterPractitionerRequest(
            institution_id=self.ids[key], practitioner_id=practitioner, roles=[role]))
        client = Client(self.target, Caller("org:" + self.ids[key], identity, role=role, practitioner=practitioner),
                        root_certificates=self.roots)
        return client, encryption

    def _notice(self, client: Client, key: str, name: str, purposes: list[str], categories: list[str],
                purpose_en: str, purpose_zh: str) -> common_pb2.NoticeRef:
        """The institution publishes its own privacy notice, in both languages (docs/notices.md)."""
        contact = f"privacy@{self.ids[key]}.example"
        texts = [
            registry_pb2.NoticeText(
                language="en", recipient_legal_name=name, recipient_contact=contact, purpose_description=purpose_en,
                handling_method="read by the named staff in our record system; never sold or passed on",
                necessity_and_impact="without it we cannot see what happened in hospital; refusing changes only that",
                retention="kept for the period the law requires of our records, then destroyed",
                how_to_withdraw="revoke the consent in your Consentry app; it takes effect at the next fetch"),
            registry_pb2.NoticeText(
                language="zh-Hans", recipient_legal_name=name, recipient_contact=contact,
                purpose_description=purpose_zh, handling_method="仅由指定人员在本机构病历系统中查阅，不出售、不转交",
                necessity_and_impact="没有这些信息我们无法了解您住院期间的情况；拒绝只影响这一点",
                retention="按法律对病历的保存期限保存，期满销毁",
                how_to_withdraw="在 Consentry 应用中撤回同意，下一次调取即生效"),
        ]
        return client.registry.PublishPrivacyNotice(registry_pb2.PublishPrivacyNoticeRequest(
            institution_id=self.ids[key], purposes=purposes, categories=categories, texts=texts)).ref

    def _person(self, key: str, enroll: Callable[[str, bytes], object]) -> Client:
        identity = SigningKey.generate()
        enroll(self.ids[key], bytes(identity.verify_key))
        prefix = "patient:" if key in ("patient", "daughter") else "auditor:"
        return Client(self.target, Caller(prefix + self.ids[key], identity), root_certificates=self.roots)

    def fetch(self, client: Client, key: PrivateKey, purpose: str) -> list[FetchedRecord]:
        return list(client.fetch(self.ids["patient"], purpose, recipient_key=key, service_key=self.service_key))

    def check_unrelated(self, what: str, fetch: Callable[[], list[FetchedRecord]]) -> None:
        """The fetch is refused outright, telling the caller nothing about the patient's records."""
        try:
            got = fetch()
        except grpc.RpcError as exc:
            self.check(exc.code() == grpc.StatusCode.PERMISSION_DENIED,
                       f"{what} ({exc.code().name}): no record named, not even whether the patient is enrolled")
            return
        self.check(False, f"{len(got)} outcomes returned where the fetch must be refused")

    # -- the story ------------------------------------------------------------------------

    def run(self) -> int:
        ids = self.ids
        self.say("Setting up: the operator registers three institutions, a patient and an auditor")
        hospital, _ = self._institution("hospital", "Riverside Hospital", registry_pb2.INSTITUTION_KIND_HOSPITAL,
                                        "physician", "dr-okafor")
        doctor, doctor_key = self._institution("doctor", "Dr Chen's family practice",
                                               registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR, "physician", "dr-chen")
        registry, registry_key = self._institution("registry", "National heart registry",
                                                   registry_pb2.INSTITUTION_KIND_RESEARCH_REGISTRY,
                                                   "researcher", "r-osei")
        patient = self._person("patient", lambda pid, pk: self.operator.registry.EnrollPatient(
            registry_pb2.EnrollPatientRequest(patient_id=pid, identity_public_key=pk)))
        auditor = self._person("auditor", lambda aid, pk: self.operator.registry.EnrollAuditor(
            registry_pb2.EnrollAuditorRequest(auditor_id=aid, identity_public_key=pk)))
        self.check(True, f"{ids['hospital']}, {ids['doctor']}, {ids['registry']}, a patient and an auditor")
        self.notices.update({
            "doctor": self._notice(doctor, "doctor", "Dr Chen's family practice", ["TREAT"], ["*"],
                                   "continuing your care after discharge", "出院后的持续诊疗"),
            "registry": self._notice(registry, "registry", "National heart registry", ["HRESCH"], ["medication", "lab"],
                                     "research on heart disease outcomes", "心脏病预后研究"),
        })
        self.check(True, "the family doctor and the registry each published a privacy notice in 简体中文 and English")

        self.say("1. The hospital deposits the discharge records as its system writes them (stored encrypted)")
        records, sensitive = {}, set()
        for title, body in discharge_records(ids["patient"]).items():
            reply = hospital.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=ids["patient"],
                                                                              fhir_json=body))
            records[reply.record.record_id] = title
            if reply.record.labels:
                sensitive.add(reply.record.record_id)
            self.check(True, f"{title}: category {reply.record.category}, labels {list(reply.record.labels) or '-'}, "
                             f"ledger #{reply.ledger_seq}")
        self.check([records[r] for r in sensitive] == ["psychiatric note"],
                   "the service labelled the psychiatric note PSY from its own codes; the hospital set no label")

        self.say("2. The patient grants the family doctor treatment access to the non-sensitive records")
        until = _days_from_now(90)
        consent = patient.consent.GrantConsent(consent_pb2.GrantConsentRequest(
            patient_id=ids["patient"], grantee=ids["doctor"], notice=self.notices["doctor"],
            terms=consent_pb2.ConsentTerms(
                kind=consent_pb2.CONSENT_KIND_TREATMENT, categories=["discharge-summary", "medication", "lab"],
                purposes=["TREAT"], validity=common_pb2.Period(end=until)))).consent
        self.check(consent.status == consent_pb2.CONSENT_STATUS_ACTIVE,
                   f"consent {consent.consent_id[:8]}: discharge-summary, medication, lab for TREAT, 90 days")

        self.say("3. Dr Chen fetches for treatment; each shared record is verified and decrypted")
        feed = LiveFeed(patient, ids["patient"])  # the patient's phone, following WatchAccess
        got = self.fetch(doctor, doctor_key, "TREAT")
        shared = {records[r.record_id] for r in got if r.shared}
        for r in got:
            if r.body is not None:
                self.check(r.resource()["subject"]["reference"].endswith(ids["patient"]),
                           f"{records[r.record_id]}: decrypted {len(r.body)} bytes, "
                           f"signed header for ledger #{r.ledger_seq}")
        self.check(shared == {"discharge summary", "medication list", "lab results"},
                   "exactly the discharge summary, medication list and lab results were shared")
        self.check(len(got) == 3, "the psychiatric note was withheld without being named: "
                                  "Dr Chen learns no id, category or count of it")
        self._live(feed, records)

        self.say("4. Dr Chen asks again for payment purposes: neither his duties nor the consent cover that")
        got = self.fetch(doctor, doctor_key, "HPAYMT")
        self.check(len(got) == 3 and not any(r.shared for r in got) and not any(r.record_id in sensitive for r in got),
                   "nothing shared, the psychiatric note not named: " + (why(got[0].reasons) if got else "?"))

        self.say("5. The research registry asks for research use under a subject id no consent gave it")
        self.check_unrelated("refused", lambda: list(registry.fetch(
            "", "HRESCH", subject_id=secrets.token_hex(16), recipient_key=registry_key, service_key=self.service_key)))
        self._research(patient, registry, registry_key, records)

        self.say("6. The patient revokes the consent; Dr Chen is refused from now on")
        revoked = patient.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(
            consent_id=consent.consent_id, reason="changed family doctor"))
        self.check(revoked.consent.status == consent_pb2.CONSENT_STATUS_REVOKED, "consent revoked")
        self.check_unrelated("refused after revocation", lambda: self.fetch(doctor, doctor_key, "TREAT"))

        self.say("7. The patient reads who accessed their data, and why")
        events = patient.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(patient_id=ids["patient"])).events
        for e in events:
            outcome = "[green]shared[/green]  " if e.allowed else "[yellow]refused[/yellow] "
            reason = "" if e.allowed else why(e.reasons, 46)
            self.console.print(f"    #{e.ledger_seq:<4} {outcome} {e.institution_id:<24} {e.purpose:<6} "
                               f"{e.category or '-':<17} {reason}")
        refused = sum(not e.allowed for e in events)
        # 1 in step 3, 4 in step 4, 2 in step 5 and one refused call in step 6. (Step 5's made-up
        # subject id named no one, so it is in no patient's history.)
        self.check(sum(e.allowed for e in events) == 5 and refused == 8,
                   f"{len(events)} events: 5 shared, {refused} refused")
        note = [e for e in events if e.record_id in sensitive]
        self.check(len(note) == 3 and any("mental-health" in r for e in note for r in e.reasons),
                   "the patient sees the psychiatric note refused, with the full reason Dr Chen was not shown")

        self.say("8. The auditor verifies the ledger offline against the ledger's public key")
        self._audit(auditor)

        daughter = self._person("daughter", lambda pid, pk: self.operator.registry.EnrollPatient(
            registry_pb2.EnrollPatientRequest(patient_id=pid, identity_public_key=pk)))
        demo_readings.play(self, patient, daughter, doctor, doctor_key)
        feed.close()
        for c in (hospital, doctor, registry, patient, auditor, daughter, self.operator):
            c.close()
        self.console.print("\n[bold green]The story behaved as it must.[/bold green]" if not self.failures
                           else f"\n[bold red]{self.failures} step(s) did not behave as they must.[/bold red]")
        return self.failures

    def _live(self, feed: LiveFeed, records: dict[str, str]) -> None:
        """What the patient's phone showed while Dr Chen fetched, without asking for anything."""
        live = [e for e in feed.take(4) if isinstance(e, consent_pb2.AccessEvent)]
        for e in live:
            outcome = "[green]shared[/green] " if e.allowed else "[yellow]refused[/yellow]"
            self.console.print(f"    live on the patient's phone: #{e.ledger_seq:<4} {outcome} {e.institution_id} "
                               f"{e.purpose} {records.get(e.record_id, e.record_id)}")
        self.check(len(live) == 4 and sum(e.allowed for e in live) == 3,
                   "the patient's phone showed each of the 4 decisions as it committed (WatchAccess), "
                   "the psychiatric note's refusal included")

    def _research(self, patient: Client, registry: Client, key: PrivateKey, records: dict[str, str]) -> None:
        self.say("   The patient gives the registry a research consent; it fetches under the consent's subject id")
        consent = patient.consent.GrantConsent(consent_pb2.GrantConsentRequest(
            patient_id=self.ids["patient"], grantee=self.ids["registry"], notice=self.notices["registry"],
            terms=consent_pb2.ConsentTerms(
                kind=consent_pb2.CONSENT_KIND_RESEARCH, categories=["medication", "lab"], purposes=["HRESCH"],
                validity=common_pb2.Period(end=_days_from_now(365))))).consent
        subject = consent.subject_id
        self.check(bool(subject), f"research consent {consent.consent_id[:8]}: medication, lab for HRESCH, "
                                  f"subject id {subject[:8]}")
        got = list(registry.fetch("", "HRESCH", subject_id=subject, recipient_key=key, service_key=self.service_key))
        shared = [r for r in got if r.body is not None]
        self.check({records[r.record_id] for r in shared} == {"medication list", "lab results"},
                   "the medication list and lab results were shared, pseudonymised")
        self.check(all(self.ids["patient"] not in json.dumps(r.resource())
                       and r.resource()["subject"]["reference"] == "Patient/" + subject for r in shared),
                   "each body names the research subject, never the patient")

    def _audit(self, auditor: Client) -> None:
        cp = auditor.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint
        entries = list(stream_entries(auditor, cp.tree_size))
        verified = verify_log(entries, cp.note, NoteVerifier.from_key(self.ledger_key))
        self.check(verified.size == cp.tree_size, f"{cp.tree_size} entries: hash chain, Merkle root and "
                                                  f"checkpoint signature verified")
        text = b"\n".join(entries)
        self.check(self.ids["patient"].encode() not in text, "the ledger names the patient only by pseudonym")


def _days_from_now(days: int) -> Timestamp:
    when = Timestamp()
    when.FromDatetime(datetime.now(UTC) + timedelta(days=days))
    return when


def run_story(target: str, operator_key: Ed25519Signer, service_key: VerifyKey, ledger_key: str) -> int:
    try:
        return Story(target, operator_key, service_key, ledger_key).run()
    except grpc.RpcError as exc:
        Console().print(f"[red]a call failed: {exc.code().name}: {exc.details()}[/red]")
        return 1
