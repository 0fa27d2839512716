"""The MIME shape of outgoing mail: text first, then HTML as its alternative, attachments around them."""

from __future__ import annotations

import pytest

from shared.mail import Attachment, build_message

PDF = Attachment("receipt-1001.pdf", "application/pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")


def message(**parts: object):
    return build_message(
        sender="Sentinel <noreply@example.com>",
        recipient="ann@example.com",
        subject="Hello",
        body="Plain words",
        message_id="<outbox-1.1@example.com>",
        **parts,  # type: ignore[arg-type]
    )


def test_a_text_only_mail_stays_a_single_text_part() -> None:
    plain = message()
    assert plain.get_content_type() == "text/plain" and not plain.is_multipart()


def test_text_and_html_are_alternatives_with_the_text_first() -> None:
    both = message(html="<p>Rich words</p>")
    assert both.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in both.iter_parts()] == ["text/plain", "text/html"]
    html = both.get_body(("html",))
    assert html is not None and "<p>Rich words</p>" in html.get_content()


def test_attachments_wrap_the_alternatives_in_multipart_mixed() -> None:
    mixed = message(html="<p>Rich</p>", attachments=[PDF])
    assert mixed.get_content_type() == "multipart/mixed"
    alternative, attached = mixed.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert attached.get_content_type() == "application/pdf" and attached.get_filename() == "receipt-1001.pdf"
    assert attached.get_content() == PDF.content
    assert mixed.get_body(("plain",)).get_content().strip() == "Plain words"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("", "application/pdf"),
        ("../etc/passwd", "application/pdf"),
        ("a\r\nb.pdf", "application/pdf"),
        ("a.pdf", "pdf"),
        ("a.pdf", "application/pdf; name=x"),
    ],
)
def test_an_attachment_needs_a_plain_name_and_a_bare_mime_type(filename: str, content_type: str) -> None:
    with pytest.raises(ValueError):
        Attachment(filename, content_type, b"x")
