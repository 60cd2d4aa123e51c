"""Writes the binary sample documents (PDF, DOCX, PPTX) in examples/docs from the text below.

Run with `python examples/make_docs.py`; the outputs are committed, so `make run` does not need this script.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent / "docs"

SECURITY_PAGES = [
    ("Information Security Policy", [
        "Version 3.2, approved by the Aurora Labs security council in January 2026.",
        "This policy applies to every employee, contractor and system of Aurora Labs.",
        "Passwords must be at least 14 characters long and are stored only in the company password manager, "
        "1Password. Multi-factor authentication is mandatory for every company account; hardware security keys "
        "are required for administrators.",
    ]),
    ("Data classification", [
        "Data is classified as Public, Internal, Confidential or Restricted.",
        "Customer telemetry from Kestrel vans is Confidential. Payment data is Restricted and never leaves the "
        "payments VPC.",
        "Restricted data may only be stored in the eu-west-1 region.",
    ]),
    ("Incidents and devices", [
        "Report a suspected security incident within 1 hour to security@auroralabs.example or in #security-help.",
        "Laptops must use full-disk encryption and lock the screen after 5 minutes of inactivity.",
        "Lost or stolen devices are wiped remotely; report them immediately.",
    ]),
]

POSTMORTEM = [
    ("Title", "Postmortem: Kestrel telemetry outage, 12 March 2026"),
    ("Heading 1", "Summary"),
    ("Normal", "On 12 March 2026 the Kestrel telemetry pipeline stopped processing van positions for 47 minutes, "
               "from 14:03 to 14:50 UTC. Fleet dashboards showed stale positions for about 1,900 vans."),
    ("Heading 1", "Root cause"),
    ("Normal", "A certificate used by the telemetry ingester to talk to the message broker expired. The "
               "certificate had been issued manually and was not tracked by the renewal job."),
    ("Heading 1", "Action items"),
    ("Normal", "All broker certificates are now issued by cert-manager with automatic renewal 30 days before "
               "expiry. An alert fires when any certificate expires in less than 14 days. Owner: Priya Nair."),
]

ROADMAP = [
    ("Kestrel roadmap — Q3 2026", "Platform team priorities for July to September"),
    ("Kestrel v2 launch", "Kestrel v2 ships on September 15, 2026.\nIt adds route replay and battery-health "
                          "forecasts."),
    ("Battery-health forecasts", "Forecasts predict battery degradation 90 days ahead.\nPilot customer: "
                                 "GreenMile Logistics with 320 vans."),
    ("Hiring", "Two senior backend engineers and one data scientist join the platform team in Q3."),
]


def make_pdf(path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    story = []
    for i, (title, paragraphs) in enumerate(SECURITY_PAGES):
        if i:
            story.append(PageBreak())
        story += [Paragraph(title, styles["Heading1"]), Spacer(1, 12)]
        story += [Paragraph(p, styles["BodyText"]) for p in paragraphs]
    SimpleDocTemplate(str(path), pagesize=A4, title="Information Security Policy").build(story)


def make_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    for style, text in POSTMORTEM:
        document.add_paragraph(text, style=style)
    document.save(str(path))


def make_pptx(path: Path) -> None:
    from pptx import Presentation

    presentation = Presentation()
    for i, (title, body) in enumerate(ROADMAP):
        slide = presentation.slides.add_slide(presentation.slide_layouts[0 if i == 0 else 1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    presentation.save(str(path))


if __name__ == "__main__":
    make_pdf(HERE / "security-policy.pdf")
    make_docx(HERE / "postmortem-telemetry-outage.docx")
    make_pptx(HERE / "roadmap-q3-2026.pptx")
