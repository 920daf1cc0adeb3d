"""Drafts of the notice each affected patient is sent after an incident, in Simplified Chinese
and English: what happened, which of their information, the possible harm, what the service did,
what they can do, and whom to contact (PIPL 57; GDPR 34(2) with 33(3)(b)-(d)). A draft: the
operator completes the measures and sends it."""

from __future__ import annotations

from consentry.services.domain.incidents import Affected

_WHAT = {
    "recipient-key": ("接收机构用于解密共享记录的密钥可能已泄露。",
                      "The key a receiving institution uses to open shared records may have been exposed."),
    "kek": ("用于保护存储记录的密钥加密密钥可能已泄露。",
            "A key-encryption key protecting stored records may have been exposed."),
    "window": ("在下述时间段内，本服务可能遭到未经授权的访问。",
               "The service may have been accessed without authorisation during the period below."),
}


def draft(kind: str, affected: Affected, *, incident: str, contact: str) -> str:
    """One patient's notice, Chinese first, then English."""
    what_zh, what_en = _WHAT[kind]
    categories = ", ".join(sorted(affected.categories)) or "-"
    recipients = ", ".join(sorted(affected.recipients)) or "-"
    period = f"{affected.first} – {affected.last}" if affected.first else "-"
    count = len(affected.records)
    return "\n".join([
        f"=== {affected.patient_id} ===",
        "【个人信息安全事件通知】",
        f"事件：{incident}。{what_zh}",
        f"涉及您的信息：{count} 份健康记录，类别：{categories}；相关机构：{recipients}；时间：{period}。",
        "可能的影响：未经授权的人员可能读取了上述记录的内容。",
        "我们已采取的措施：[运营方填写：已撤销或轮换的密钥、已通知的机构、已采取的补救措施]。",
        "您可以采取的措施：查看您的访问记录（GetAccessHistory），撤销或缩小您的授权，并留意与上述信息有关的可疑联系。",
        f"联系方式：{contact}",
        "",
        "[Notice of a personal information security incident]",
        f"Incident: {incident}. {what_en}",
        f"Your information involved: {count} health record(s), categories: {categories}; institutions: "
        f"{recipients}; period: {period}.",
        "Possible consequences: someone without authorisation may have read these records.",
        "What we have done: [operator to complete: keys revoked or rotated, institutions informed, remedies].",
        "What you can do: review your access history (GetAccessHistory), revoke or narrow your consents, "
        "and be wary of unexpected contact about this information.",
        f"Contact: {contact}",
        "",
    ])
