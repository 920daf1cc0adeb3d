"""`consentry org notice` and `--notice`: an institution publishes its privacy notice by the CLI;
a grant names the notice the patient is shown, whose text the CLI prints (in the language asked)
before granting, with a content hash the CLI recomputed itself; without `--notice`, or without
the end a research consent needs, the patient gets one line."""

from __future__ import annotations

import json

from cli_helpers import NOTICE_PARTS, notice_file, ok, one_line, published, run

from consentry.services.cli.privacy_notice import content_hash
from consentry.v1 import registry_pb2


def test_a_grant_shows_the_notice_and_names_it(story):
    ids, d = story["ids"], story["dir"]
    notice_id, version, sha256 = published(run(
        "org", "notice", "publish", "--file", str(notice_file(d / "research.json", "study", ["HRESCH"], ["lab"])),
        "--as", "operator", "--for", ids["doctor"], *story["operator"]))
    assert version == "v1" and len(bytes.fromhex(sha256)) == 32

    shown = ok(run("org", "notice", "show", notice_id, "--version", "1", "--lang", "zh-Hans", *story["patient"]))
    assert shown[0] == f"privacy notice {notice_id} v1 of {ids['doctor']} (zh-Hans)"
    assert [line.split(": ", 1)[1] for line in shown[1:8]] == [f"study zh-Hans {part}" for part in NOTICE_PARTS]
    assert shown[-1] == f"Content hash: {sha256}"

    granted = ok(run("patient", "grant", "--to", ids["doctor"], "--kind", "research", "--category", "lab",
                     "--purpose", "HRESCH", "--days", "365", "--notice", notice_id, *story["patient"]))
    assert granted[:-1] == ok(run("org", "notice", "show", notice_id, *story["patient"]))  # in English
    assert "study en how_to_withdraw" in "\n".join(granted[:-1])
    consent_id = granted[-1].split("\t")[0]
    assert granted[-1].endswith(f"\tnotice {notice_id} v1")
    exported = json.loads(ok(run("patient", "export", consent_id, *story["patient"]))[0])
    assert notice_id in json.dumps(exported["policy"])
    ok(run("patient", "revoke", consent_id, *story["patient"]))

    # A research consent must end: the server's refusal reaches the patient as it is, nothing granted.
    before = ok(run("patient", "consents", "--all", *story["patient"]))
    refused = one_line(run("patient", "grant", "--to", ids["doctor"], "--kind", "research", "--category", "lab",
                           "--purpose", "HRESCH", "--notice", f"{notice_id}:1", *story["patient"]),
                       "consentry patient: INVALID_ARGUMENT: ")
    assert "terms.validity.end" in refused and "must end" in refused
    assert ok(run("patient", "consents", "--all", *story["patient"])) == before


def test_without_a_notice_a_grant_is_one_line(story):
    ids = story["ids"]
    before = ok(run("patient", "consents", "--all", *story["patient"]))
    missing = one_line(run("patient", "grant", "--to", ids["doctor"], "--category", "lab", "--purpose", "TREAT",
                           *story["patient"]), "consentry patient grant: ", code=2)
    assert "--notice" in missing
    one_line(run("org", "request-access", "--patient", ids["patient"], "--category", "lab", "--purpose", "TREAT",
                 "--reason", "review", *story["doctor"]), "consentry org request-access: ", code=2)
    assert "--notice" in one_line(run("patient", "grant", "--to", ids["doctor"], "--category", "lab", "--purpose",
                                      "TREAT", "--notice", f"{story['notices']['doctor']}:x", *story["patient"]),
                                  "consentry patient", code=2)
    # Another institution's notice does not cover a grant to the doctor.
    assert "notice.notice_id" in one_line(run(
        "patient", "grant", "--to", ids["doctor"], "--category", "lab", "--purpose", "TREAT",
        "--notice", story["notices"]["hospital"], *story["patient"]), "consentry patient: INVALID_ARGUMENT: ")
    assert ok(run("patient", "consents", "--all", *story["patient"])) == before


def test_an_incomplete_notice_is_refused_naming_the_part(story, tmp_path):
    ids = story["ids"]
    path = notice_file(tmp_path / "notice.json", "hospital", ["TREAT"], ["lab"])
    notice = json.loads(path.read_text())
    del notice["texts"][1]["retention"]
    path.write_text(json.dumps(notice))
    refused = one_line(run("org", "notice", "publish", "--file", str(path), "--as", "operator", "--for",
                           ids["hospital"], *story["operator"]), "consentry org: INVALID_ARGUMENT: ")
    assert "texts[1].retention" in refused
    assert "--for" in one_line(run("org", "notice", "publish", "--file", str(path), "--as", "operator",
                                   *story["operator"]), "consentry org notice publish: ", code=2)


def test_the_cli_recomputes_the_content_hash_the_server_binds(harness):
    """What `--notice` checks before sending: its own hash of the text it shows equals the
    server's, and any change to a part the patient reads changes it."""
    org = harness.org()
    reply = org.client.registry.GetPrivacyNotice(registry_pb2.GetPrivacyNoticeRequest(notice_id=org.notice.notice_id))
    assert content_hash(reply.notice) == reply.ref.content_hash == reply.notice.content_hash == org.notice.content_hash
    for part in NOTICE_PARTS:
        swapped = registry_pb2.PrivacyNotice()
        swapped.CopyFrom(reply.notice)
        setattr(swapped.texts[1], part, getattr(swapped.texts[1], part) + ".")
        assert content_hash(swapped) != reply.ref.content_hash, part
    wider = registry_pb2.PrivacyNotice()
    wider.CopyFrom(reply.notice)
    wider.purposes.append("HRESCH")
    assert content_hash(wider) != reply.ref.content_hash
