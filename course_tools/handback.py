"""Hand back and export: each student's feedback as a self-contained HTML page, and the class's
grades as a CSV file that Canvas or Moodle imports (``course-mark export``, :mod:`course_tools.marking`).

The two imports, and the columns written for them:

Canvas, *Grades > Import* (the gradebook CSV, the same layout as Canvas's own gradebook export):
``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``, then one column per
assignment, headed ``Assignment name (assignment id)``. Canvas matches a row on the student's
``ID`` (the Canvas user id, the first number of the file names in Canvas's *Download
Submissions* zip, which ``course-collect`` records); the name and the empty SIS and section
columns are there because the import expects the columns. A column headed with an id fills that
existing assignment; one without an id makes Canvas create a new assignment. Canvas imports
points only: the comments travel in the feedback files.

Moodle, the assignment's *Upload grading worksheet* (the offline grading worksheet of an
assignment with the *Offline grading worksheet* feedback type on): ``Identifier`` (``Participant``
followed by the participant id, the number in the folder names of Moodle's *Download all
submissions*, which ``course-collect`` records), ``Full name``, ``Grade``, ``Maximum Grade``,
``Last modified (grade)`` and ``Feedback comments``. Moodle's importer needs the identifier,
grade and last-modified columns; it skips a row whose grade was changed in Moodle after the
last-modified time, unless *Allow updating records that have been modified more recently in
Moodle than in the spreadsheet* is ticked, so the export time is written there. Moodle's
assignment must be graded out of the same maximum (the CSV's ``Maximum Grade``).

The comments of a Moodle row are plain text (HTML special characters escaped): the points per
part and the total; the full feedback is the HTML file handed back.
"""

from __future__ import annotations

import csv
import html
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from course_tools.grading.output import open_fresh, write_fresh

__all__ = ["markdown_to_html", "write_feedback_html", "canvas_csv", "moodle_csv", "LMS_FORMATS"]

CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_COLUMNS = [
    "Identifier",
    "Full name",
    "Grade",
    "Maximum Grade",
    "Last modified (grade)",
    "Feedback comments",
]
LMS_FORMATS = ("canvas", "moodle")

_STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 50rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #bbb; padding: .25rem .6rem; text-align: left; vertical-align: top; }
pre { background: #f4f4f4; padding: .6rem; overflow-x: auto; white-space: pre-wrap; }
code { background: #f4f4f4; padding: 0 .2rem; }
"""


# --------------------------------------------------------------------------- Markdown to HTML


def _inline(text: str) -> str:
    """Escaped ``text`` with ``code`` spans and **bold** turned into tags (nothing else is markup).

    >>> _inline("**3 / 4** for `f(x)` <script>")
    '<strong>3 / 4</strong> for <code>f(x)</code> &lt;script&gt;'
    """
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if len(part) > 1 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
        else:
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(part)))
    return "".join(out)


def _table(rows: list[str]) -> str:
    cells = [
        [_inline(c.strip().replace("\\|", "|")) for c in re.split(r"(?<!\\)\|", row.strip()[1:-1])] for row in rows
    ]
    body = [r for r in cells[1:] if not all(set(c) <= set("-: ") for c in r)]
    head = "".join(f"<th>{c}</th>" for c in cells[0])
    return (
        f"<table><tr>{head}</tr>"
        + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body)
        + "</table>"
    )


def markdown_to_html(text: str, title: str) -> str:
    """A self-contained HTML page for the feedback Markdown ``text``: no script, nothing loaded from elsewhere.

    Only what feedback files use is rendered (headings, tables, fenced code, lists, paragraphs,
    ``code`` and **bold**); everything else, a student's own HTML included, is shown as text.

    >>> page = markdown_to_html("# Hi\\n\\n<img src=x onerror=alert(1)>\\n\\n```\\na < b\\n```", "t")
    >>> "<h1>Hi</h1>" in page, "&lt;img src=x" in page, "<pre><code>a &lt; b</code></pre>" in page
    (True, True, True)
    """
    text = re.sub(r"<!--.*?-->\n?", "", text, flags=re.S)
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), len(lines))
            blocks.append("<pre><code>" + html.escape("\n".join(lines[i + 1 : end])) + "</code></pre>")
            i = end + 1
        elif match := re.match(r"(#{1,6}) (.*)", line):
            level = len(match[1])
            blocks.append(f"<h{level}>{_inline(match[2])}</h{level}>")
            i += 1
        elif line.startswith("|"):
            end = next((j for j in range(i, len(lines)) if not lines[j].startswith("|")), len(lines))
            blocks.append(_table(lines[i:end]))
            i = end
        elif re.match(r"[-*] ", line):
            end = next((j for j in range(i, len(lines)) if not re.match(r"[-*] ", lines[j])), len(lines))
            blocks.append("<ul>" + "".join(f"<li>{_inline(item[2:])}</li>" for item in lines[i:end]) + "</ul>")
            i = end
        elif not line.strip():
            i += 1
        else:
            end = next((j for j in range(i, len(lines)) if _starts_block(lines[j])), len(lines))
            paragraph = "<br>\n".join(_inline(x.rstrip()) for x in lines[i:end])
            blocks.append(f"<p>{paragraph}</p>")
            i = end
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(blocks)
        + "\n</body>\n</html>\n"
    )


def _starts_block(line: str) -> bool:
    return not line.strip() or line.startswith(("```", "#", "|")) or bool(re.match(r"[-*] ", line))


def write_feedback_html(feedback: Path, names: list[str]) -> list[Path]:
    """``feedback/<name>.html`` from each ``feedback/<name>.md`` of ``names``; the paths written."""
    written = []
    for name in names:
        source = feedback / f"{name}.md"
        if source.exists():
            target = source.with_suffix(".html")
            write_fresh(target, markdown_to_html(source.read_text(), f"Feedback: {name}"))
            written.append(target)
    return written


# --------------------------------------------------------------------------- LMS imports


def canvas_csv(path: Path, grades: list[dict[str, str]], ids: Mapping[str, Mapping[str, str]], column: str) -> None:
    """Canvas's gradebook import: one row per student, the final total in the ``column`` assignment."""
    with open_fresh(path, newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([*CANVAS_COLUMNS, column])
        for row in grades:
            lms = ids[row["student"]]
            writer.writerow([lms["lms_name"] or row["student"], lms["lms_id"], "", "", "", row.get("final_total", "")])


def moodle_csv(
    path: Path,
    grades: list[dict[str, str]],
    ids: Mapping[str, Mapping[str, str]],
    comments: Mapping[str, str],
    now: datetime | None = None,
) -> None:
    """Moodle's assignment grading worksheet: one row per student, the final total and a short comment."""
    stamp = (now or datetime.now()).strftime("%Y-%m-%d %H:%M:%S")
    with open_fresh(path, newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(MOODLE_COLUMNS)
        for row in grades:
            lms = ids[row["student"]]
            writer.writerow(
                [
                    f"Participant {lms['lms_id']}",
                    lms["lms_name"] or row["student"],
                    row.get("final_total", ""),
                    row.get("final_max", ""),
                    stamp,
                    html.escape(comments.get(row["student"], ""), quote=False),
                ]
            )
