"""Exercise 02's checks against the answers students write: honest alternatives earn the points,
and each plausible mistake (one clause of a task statement ignored) loses the check that covers it.

Every submission is the student notebook with its answer cells replaced, graded for real (the
reference solution run once, the probes compared in the grader's process, the in-process checks
in the sandbox). One notebook carries one answer per task, so ten gradings cover every answer
below; a wrong answer to task (b) also costs task (c)'s hidden check (it compares the rows on a
larger shop), so a notebook with one says nothing about task (c)'s hidden check.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_tools.cells import cell_role, grade_id
from course_tools.grading.cli import grade_class
from course_tools.grading.runner import Assignment, Limits

ROOT = Path(__file__).resolve().parents[1]
NAME = "02_profiling_and_benchmarking"
LIMITS = Limits(cell_timeout=90, submission_timeout=400)

# --------------------------------------------------------------------------- task (a): hot_spot

HOT = {
    # honest: the first row of the largest tottime, three other ways
    "nlargest": (
        "def hot_spot(profile):\n"
        '    row = profile.nlargest(1, "tottime", keep="first").iloc[0]\n'
        '    return row["function"], row["ncalls"]\n'
    ),
    "loop": (
        "def hot_spot(profile):\n"
        "    best_time, best = None, None\n"
        '    for name, calls, own in zip(profile["function"], profile["ncalls"], profile["tottime"]):\n'
        "        if best_time is None or own > best_time:\n"
        "            best_time, best = own, (str(name), int(calls))\n"
        "    return best\n"
    ),
    "stable_sort": (
        "def hot_spot(profile):\n"
        '    row = profile.sort_values("tottime", ascending=False, kind="stable").iloc[0]\n'
        '    return [row["function"], row["ncalls"]]\n'
    ),
    # wrong: cumulative time instead of own time
    "cumtime": (
        'def hot_spot(profile):\n    row = profile.loc[profile["cumtime"].idxmax()]\n'
        '    return row["function"], row["ncalls"]\n'
    ),
    # wrong: assumes the table is sorted by tottime ("in any order")
    "first_row": 'def hot_spot(profile):\n    return profile["function"].iloc[0], profile["ncalls"].iloc[0]\n',
    # wrong: the last of tied rows (>=), not the first
    "last_of_ties": (
        "def hot_spot(profile):\n"
        "    best = None\n"
        "    for _, row in profile.iterrows():\n"
        '        if best is None or row["tottime"] >= best["tottime"]:\n'
        "            best = row\n"
        '    return best["function"], best["ncalls"]\n'
    ),
    # wrong: ties broken by ncalls (a max over tuples)
    "ties_by_ncalls": (
        "def hot_spot(profile):\n"
        '    own, calls, name = max(zip(profile["tottime"], profile["ncalls"], profile["function"]))\n'
        "    return name, calls\n"
    ),
    # wrong: an index label used as a position ("with any index labels")
    "label_as_position": (
        'def hot_spot(profile):\n    row = profile.iloc[profile["tottime"].idxmax()]\n'
        '    return row["function"], row["ncalls"]\n'
    ),
    # wrong: sorts the caller's table in place ("do not change the table")
    "sorts_in_place": (
        "def hot_spot(profile):\n"
        '    profile.sort_values("tottime", ascending=False, inplace=True)\n'
        '    return profile["function"].iloc[0], profile["ncalls"].iloc[0]\n'
    ),
}

# --------------------------------------------------------------------------- task (b): fast_bestseller_report

FAST = {
    "defaultdict_heapq": (
        "import heapq\nfrom collections import defaultdict\n\n\n"
        "def fast_bestseller_report(store, top=10):\n"
        '    by_id = {book["id"]: book for book in store.books}\n'
        "    copies, revenue = defaultdict(int), defaultdict(int)\n"
        "    for order in store.orders:\n"
        '        keep = 100 - order["discount_pct"]\n'
        '        for line in order["lines"]:\n'
        '            book_id, quantity = line["book_id"], line["quantity"]\n'
        "            copies[book_id] += quantity\n"
        '            revenue[book_id] += quantity * by_id[book_id]["price_cents"] * keep // 100\n'
        "    best = heapq.nlargest(top, copies, key=lambda b: (revenue[b], copies[b], -b))\n"
        "    ratings, names = average_ratings(store.reviews), author_names(store.authors)\n"
        "    return [dict(rank=rank, book_id=b, title=by_id[b]['title'], author=names[by_id[b]['author_id']],\n"
        "                 copies=copies[b], revenue_cents=revenue[b], stars=ratings.get(b))\n"
        "            for rank, b in enumerate(best, start=1)]\n"
    ),
    "sorted_items": (
        "def fast_bestseller_report(store, top=10):\n"
        '    books = {book["id"]: book for book in store.books}\n'
        "    sales = {}\n"
        "    for order in store.orders:\n"
        '        for line in order["lines"]:\n'
        '            price = books[line["book_id"]]["price_cents"]\n'
        '            cut = line["quantity"] * price * (100 - order["discount_pct"]) // 100\n'
        '            copies, total = sales.get(line["book_id"], (0, 0))\n'
        '            sales[line["book_id"]] = (copies + line["quantity"], total + cut)\n'
        "    ranked = sorted(sales.items(), key=lambda item: (-item[1][1], -item[1][0], item[0]))[:top]\n"
        "    ratings, names = average_ratings(store.reviews), author_names(store.authors)\n"
        "    return [{'rank': i, 'book_id': b, 'title': books[b]['title'], 'author': names[books[b]['author_id']],\n"
        "             'copies': c, 'revenue_cents': r, 'stars': ratings.get(b)}\n"
        "            for i, (b, (c, r)) in enumerate(ranked, start=1)]\n"
    ),
    # honest, but not 3 times as fast on the notebook's shop (building the frames costs): task (c) says 3
    "pandas": (
        "def fast_bestseller_report(store, top=10):\n"
        '    books = pd.DataFrame(store.books).set_index("id")\n'
        '    lines = pd.DataFrame([(l["book_id"], l["quantity"], o["discount_pct"])\n'
        '                          for o in store.orders for l in o["lines"]],\n'
        '                         columns=["book_id", "quantity", "off"])\n'
        "    if lines.empty:\n"
        "        return []\n"
        '    price = books.loc[lines["book_id"], "price_cents"].to_numpy()\n'
        '    lines["revenue"] = lines["quantity"] * price * (100 - lines["off"]) // 100\n'
        '    sales = lines.groupby("book_id").agg(copies=("quantity", "sum"), revenue=("revenue", "sum"))\n'
        "    sales = sales.reset_index()\n"
        '    sales = sales.sort_values(["revenue", "copies", "book_id"], ascending=[False, False, True]).head(top)\n'
        "    ratings, names = average_ratings(store.reviews), author_names(store.authors)\n"
        "    return [{'rank': rank, 'book_id': int(r.book_id), 'title': books.at[r.book_id, 'title'],\n"
        "             'author': names[int(books.at[r.book_id, 'author_id'])], 'copies': int(r.copies),\n"
        "             'revenue_cents': int(r.revenue), 'stars': ratings.get(int(r.book_id))}\n"
        "            for rank, r in enumerate(sales.itertuples(), start=1)]\n"
    ),
}


def _solution_variant(old: str, new: str) -> str:
    """The reference answer to task (b) with one line changed: a plausible mistake."""
    source = _solution_answers()["fast_report_answer"]
    assert source.count(old) == 1, old
    return source.replace(old, new)


#: wrong answers to task (b), made from the reference by a one-line change (built when first asked for)
FAST_WRONG = {
    # revenue ties kept in the order the books were first sold ("same order")
    "revenue_only": (
        'rows.sort(key=lambda row: (-row["revenue_cents"], -row["copies"], row["book_id"]))',
        'rows.sort(key=lambda row: -row["revenue_cents"])',
    ),
    # the discount rounded to the nearest cent, not down as the original does ("same values")
    "rounds": (
        'revenue = line["quantity"] * book["price_cents"] * (100 - order["discount_pct"]) // 100',
        'revenue = round(line["quantity"] * book["price_cents"] * (100 - order["discount_pct"]) / 100)',
    ),
    # no reviews: 0 stars instead of None ("same values")
    "stars_zero": ('"stars": ratings.get(book_id)}', '"stars": ratings.get(book_id, 0)}'),
}
#: wrong: exact revenue summed and rounded down once per book, not per order line
FAST_SUMMED = (
    "def fast_bestseller_report(store, top=10):\n"
    '    books = {book["id"]: book for book in store.books}\n'
    "    sales = {}\n"
    "    for order in store.orders:\n"
    '        for line in order["lines"]:\n'
    '            price = books[line["book_id"]]["price_cents"]\n'
    '            exact = line["quantity"] * price * (100 - order["discount_pct"]) / 100\n'
    '            copies, total = sales.get(line["book_id"], (0, 0.0))\n'
    '            sales[line["book_id"]] = (copies + line["quantity"], total + exact)\n'
    "    ratings, names = average_ratings(store.reviews), author_names(store.authors)\n"
    "    rows = [{'book_id': b, 'title': books[b]['title'], 'author': names[books[b]['author_id']], 'copies': c,\n"
    "             'revenue_cents': int(r), 'stars': ratings.get(b)} for b, (c, r) in sales.items()]\n"
    '    rows.sort(key=lambda row: (-row["revenue_cents"], -row["copies"], row["book_id"]))\n'
    '    return [{"rank": rank, **row} for rank, row in enumerate(rows[:top], start=1)]\n'
)
#: wrong: sorts the shop's books in place to search them ("do not change the shop's data")
FAST_SORTS_BOOKS = (
    "from bisect import bisect_left\n\n\n"
    "def fast_bestseller_report(store, top=10):\n"
    '    store.books.sort(key=lambda book: book["id"])\n'
    '    ids = [book["id"] for book in store.books]\n'
    "    sales = {}\n"
    "    for order in store.orders:\n"
    '        for line in order["lines"]:\n'
    '            book = store.books[bisect_left(ids, line["book_id"])]\n'
    '            revenue = line["quantity"] * book["price_cents"] * (100 - order["discount_pct"]) // 100\n'
    '            copies, total = sales.get(book["id"], (0, 0))\n'
    '            sales[book["id"]] = (copies + line["quantity"], total + revenue)\n'
    "    ratings, names = average_ratings(store.reviews), author_names(store.authors)\n"
    "    rows = [{'book_id': b, 'title': store.books[bisect_left(ids, b)]['title'],\n"
    "             'author': names[store.books[bisect_left(ids, b)]['author_id']], 'copies': c,\n"
    "             'revenue_cents': r, 'stars': ratings.get(b)} for b, (c, r) in sales.items()]\n"
    '    rows.sort(key=lambda row: (-row["revenue_cents"], -row["copies"], row["book_id"]))\n'
    '    return [{"rank": rank, **row} for rank, row in enumerate(rows[:top], start=1)]\n'
)

# --------------------------------------------------------------------------- task (c): prove_speedup

PROVE = {
    "thread_time_imported": (
        "from time import thread_time\n\n\n"
        "def prove_speedup(store):\n"
        "    return compare(bestseller_report, fast_bestseller_report, store, repeats=12, warmup=1,\n"
        '                   timer=thread_time, names=("before", "after"))\n'
    ),
    "process_time": (
        "def prove_speedup(store):\n"
        "    return compare(bestseller_report, fast_bestseller_report, store, repeats=10, timer=time.process_time)\n"
    ),
    # wrong: measured once on the notebook's shop, whatever shop it is given
    "global_store": (
        "result = compare(bestseller_report, fast_bestseller_report, store, repeats=15, timer=time.thread_time)\n\n\n"
        "def prove_speedup(store):\n    return result\n"
    ),
    # wrong: the wall clock (the harness's default timer)
    "wall_clock": (
        "def prove_speedup(store):\n    return compare(bestseller_report, fast_bestseller_report, store, repeats=15)\n"
    ),
    # wrong: the fix first, the original second
    "reversed": (
        "def prove_speedup(store):\n"
        "    return compare(fast_bestseller_report, bestseller_report, store, repeats=15, timer=time.thread_time)\n"
    ),
    # wrong: fewer than 10 samples
    "five_samples": (
        "def prove_speedup(store):\n"
        "    return compare(bestseller_report, fast_bestseller_report, store, repeats=5, timer=time.thread_time)\n"
    ),
}

# --------------------------------------------------------------------------- task (d): biggest_growth

_GROWTH_HEAD = (
    "def biggest_growth(fn, calls=200):\n"
    "    was_tracing = tracemalloc.is_tracing()\n"
    "    if not was_tracing:\n"
    "        tracemalloc.start()\n"
)
_GROWTH_TAIL = (
    '    grew = [stat for stat in after.compare_to(before, "lineno") if stat.size_diff > 0]\n'
    "    if not grew:\n"
    "        return None\n"
    "    top = max(grew, key=lambda stat: stat.size_diff)\n"
    "    return top.traceback[0].filename, top.traceback[0].lineno, top.size_diff\n"
)
_MEASURE = (
    "    try:\n"
    "        fn()\n"
    "        before = tracemalloc.take_snapshot()\n"
    "        for _ in range(calls):\n"
    "            fn()\n"
    "        after = tracemalloc.take_snapshot()\n"
    "    finally:\n"
    "        if not was_tracing:\n"
    "            tracemalloc.stop()\n"
)

GROWTH = {
    "filtered_sorted": (
        "def biggest_growth(fn, calls=200):\n"
        "    started = not tracemalloc.is_tracing()\n"
        "    if started:\n"
        "        tracemalloc.start()\n"
        "    try:\n"
        "        fn()\n"
        "        own = [tracemalloc.Filter(False, tracemalloc.__file__)]\n"
        "        before = tracemalloc.take_snapshot().filter_traces(own)\n"
        "        for _ in range(calls):\n"
        "            fn()\n"
        "        after = tracemalloc.take_snapshot().filter_traces(own)\n"
        "    finally:\n"
        "        if started:\n"
        "            tracemalloc.stop()\n"
        '    diffs = sorted(after.compare_to(before, "lineno"), key=lambda s: s.size_diff, reverse=True)\n'
        "    if not diffs or diffs[0].size_diff <= 0:\n"
        "        return None\n"
        "    frame = diffs[0].traceback[0]\n"
        "    return frame.filename, frame.lineno, diffs[0].size_diff\n"
    ),
    "exit_stack": (
        "import contextlib\nfrom operator import attrgetter\n\n\n"
        "def biggest_growth(fn, calls=200):\n"
        "    with contextlib.ExitStack() as stack:\n"
        "        if not tracemalloc.is_tracing():\n"
        "            tracemalloc.start()\n"
        "            stack.callback(tracemalloc.stop)\n"
        "        fn()\n"
        "        first = tracemalloc.take_snapshot()\n"
        "        for _ in range(calls):\n"
        "            fn()\n"
        "        second = tracemalloc.take_snapshot()\n"
        '    top = max(second.compare_to(first, "lineno"), key=attrgetter("size_diff"), default=None)\n'
        "    if top is None or top.size_diff <= 0:\n"
        "        return None\n"
        "    return (top.traceback[0].filename, top.traceback[0].lineno, top.size_diff)\n"
    ),
    "ten_frames": (
        "def biggest_growth(fn, calls=200):\n"
        "    tracing = tracemalloc.is_tracing()\n"
        "    if not tracing:\n"
        "        tracemalloc.start(10)\n"
        "    try:\n"
        "        fn()\n"
        "        before = tracemalloc.take_snapshot()\n"
        "        for _ in range(calls):\n"
        "            fn()\n"
        "        after = tracemalloc.take_snapshot()\n"
        "    finally:\n"
        "        if not tracing:\n"
        "            tracemalloc.stop()\n"
        "    best = None\n"
        '    for stat in after.compare_to(before, "lineno"):\n'
        "        if stat.size_diff > 0 and (best is None or stat.size_diff > best.size_diff):\n"
        "            best = stat\n"
        "    if best is None:\n"
        "        return None\n"
        "    return best.traceback[0].filename, best.traceback[0].lineno, best.size_diff\n"
    ),
    # wrong: the first entry of the comparison (sorted by the absolute change)
    "first_entry": _GROWTH_HEAD
    + _MEASURE
    + (
        '    top = after.compare_to(before, "lineno")[0]\n'
        "    return top.traceback[0].filename, top.traceback[0].lineno, top.size_diff\n"
    ),
    # wrong: no warm-up call before the first snapshot
    "no_warmup": _GROWTH_HEAD + _MEASURE.replace("        fn()\n        before", "        before") + _GROWTH_TAIL,
    # wrong: tracemalloc stopped only when fn does not raise
    "no_finally": _GROWTH_HEAD
    + (
        "    fn()\n"
        "    before = tracemalloc.take_snapshot()\n"
        "    for _ in range(calls):\n"
        "        fn()\n"
        "    after = tracemalloc.take_snapshot()\n"
        "    if not was_tracing:\n"
        "        tracemalloc.stop()\n"
    )
    + _GROWTH_TAIL,
    # wrong: tracemalloc stopped even when it was running before
    "always_stops": _GROWTH_HEAD
    + _MEASURE.replace("        if not was_tracing:\n            tracemalloc.stop()", "        tracemalloc.stop()")
    + _GROWTH_TAIL,
    # wrong: the line's size, not its growth
    "size_not_growth": _GROWTH_HEAD
    + _MEASURE
    + _GROWTH_TAIL.replace("top.traceback[0].lineno, top.size_diff", "top.traceback[0].lineno, top.size"),
    # wrong: 200 calls whatever `calls` says
    "ignores_calls": _GROWTH_HEAD + _MEASURE.replace("range(calls)", "range(200)") + _GROWTH_TAIL,
    # wrong: an error of fn swallowed ("let that exception go on to your caller")
    "swallows_errors": _GROWTH_HEAD
    + _MEASURE.replace("    finally:\n", "    except Exception:\n        return None\n    finally:\n")
    + _GROWTH_TAIL,
}


# --------------------------------------------------------------------------- the class

#: student -> answers by task (None: the reference answer), and what each check must do:
#: True must pass, False must fail; a check not named is not asserted.
CLASS: dict[str, tuple[dict[str, str | None], dict[str, bool]]] = {
    "s1": (
        {"hot": "cumtime", "fast": "defaultdict_heapq", "prove": "global_store", "growth": "first_entry"},
        {
            "hot_spot_visible": False,
            "hot_spot_hidden": False,
            "fast_report_visible": True,
            "fast_report_hidden": True,
            "prove_speedup_visible": True,
            "prove_speedup_hidden": False,
            "biggest_growth_hidden": False,
        },
    ),
    "s2": (
        {"hot": "first_row", "fast": "sorted_items", "prove": "wall_clock", "growth": "no_warmup"},
        {
            "hot_spot_visible": False,
            "hot_spot_hidden": False,
            "fast_report_visible": True,
            "fast_report_hidden": True,
            "prove_speedup_hidden": False,
            "biggest_growth_hidden": False,
        },
    ),
    "s3": (
        {"hot": "last_of_ties", "fast": "revenue_only", "prove": None, "growth": "no_finally"},
        {
            "hot_spot_visible": True,
            "hot_spot_hidden": False,
            "fast_report_hidden": False,
            "prove_speedup_visible": True,
            "biggest_growth_visible": True,
            "biggest_growth_hidden": False,
        },
    ),
    "s4": (
        {"hot": "ties_by_ncalls", "fast": "summed", "prove": None, "growth": "always_stops"},
        {
            "hot_spot_visible": True,
            "hot_spot_hidden": False,
            "fast_report_hidden": False,
            "biggest_growth_visible": True,
            "biggest_growth_hidden": False,
        },
    ),
    "s5": (
        {"hot": "label_as_position", "fast": "rounds", "prove": None, "growth": "size_not_growth"},
        {
            "hot_spot_visible": True,
            "hot_spot_hidden": False,
            "fast_report_hidden": False,
            "biggest_growth_hidden": False,
        },
    ),
    "s6": (
        {"hot": "sorts_in_place", "fast": "pandas", "prove": "five_samples", "growth": "ignores_calls"},
        {
            "hot_spot_visible": False,
            "hot_spot_hidden": False,
            "fast_report_visible": True,
            "fast_report_hidden": True,
            "prove_speedup_visible": False,
            "prove_speedup_hidden": False,
            "biggest_growth_visible": True,
            "biggest_growth_hidden": False,
        },
    ),
    "s7": (
        {"hot": "stable_sort", "fast": "sorts_books", "prove": "reversed", "growth": "swallows_errors"},
        {
            "hot_spot_visible": True,
            "hot_spot_hidden": True,
            "fast_report_visible": False,
            "fast_report_hidden": False,
            "prove_speedup_visible": False,
            "prove_speedup_hidden": False,
            "biggest_growth_visible": True,
            "biggest_growth_hidden": False,
        },
    ),
    "s8": (
        {"hot": None, "fast": "stars_zero", "prove": None, "growth": "ten_frames"},
        {
            "hot_spot_visible": True,
            "hot_spot_hidden": True,
            "fast_report_hidden": False,
            "biggest_growth_visible": True,
            "biggest_growth_hidden": True,
        },
    ),
    "honest_1": (
        {"hot": "nlargest", "fast": "defaultdict_heapq", "prove": "thread_time_imported", "growth": "filtered_sorted"},
        dict.fromkeys(
            [
                "hot_spot_visible",
                "hot_spot_hidden",
                "fast_report_visible",
                "fast_report_hidden",
                "prove_speedup_visible",
                "prove_speedup_hidden",
                "biggest_growth_visible",
                "biggest_growth_hidden",
            ],
            True,
        ),
    ),
    "honest_2": (
        {"hot": "loop", "fast": None, "prove": "process_time", "growth": "exit_stack"},
        dict.fromkeys(
            [
                "hot_spot_visible",
                "hot_spot_hidden",
                "fast_report_visible",
                "fast_report_hidden",
                "prove_speedup_visible",
                "prove_speedup_hidden",
                "biggest_growth_visible",
                "biggest_growth_hidden",
            ],
            True,
        ),
    ),
}

_CELLS = {
    "hot": "hot_spot_answer",
    "fast": "fast_report_answer",
    "prove": "prove_speedup_answer",
    "growth": "biggest_growth_answer",
}


def _solution_answers() -> dict[str, str]:
    nb = nbformat.read(ROOT / "solutions" / f"{NAME}.ipynb", as_version=4)
    return {grade_id(c): c.source for c in nb.cells if cell_role(c) == "answer"}


def _answer(task: str, key: str | None) -> str:
    if key is None:
        return _solution_answers()[_CELLS[task]]
    if task == "fast":
        if key in FAST_WRONG:
            return _solution_variant(*FAST_WRONG[key])
        return {"summed": FAST_SUMMED, "sorts_books": FAST_SORTS_BOOKS}.get(key) or FAST[key]
    return {"hot": HOT, "prove": PROVE, "growth": GROWTH}[task][key]


def _notebook(answers: dict[str, str | None]) -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "exercises" / f"{NAME}.ipynb", as_version=4)
    sources = {_CELLS[task]: _answer(task, key) for task, key in answers.items()}
    for cell in nb.cells:
        if cell_role(cell) == "answer" and grade_id(cell) in sources:
            cell.source = sources[grade_id(cell)]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    assignment = Assignment.load(NAME, ROOT / "solutions", ROOT / "rubrics")
    submissions = tmp_path_factory.mktemp("class")
    for student, (answers, _) in CLASS.items():
        (submissions / student).mkdir()
        nbformat.write(_notebook(answers), submissions / student / f"{NAME}.ipynb")
    results = grade_class(submissions, assignment, tmp_path_factory.mktemp("out"), LIMITS, jobs=2, progress=lambda _: 0)
    return assignment, {r.student: r for r in results}


def test_hot_spot_and_the_report_are_trusted_the_measurements_in_process(graded):
    assignment, _ = graded
    assert assignment.trusted == {"hot_spot_visible", "hot_spot_hidden", "fast_report_visible", "fast_report_hidden"}


@pytest.mark.parametrize("student", sorted(CLASS))
def test_each_answer_earns_or_loses_the_checks_it_should(graded, student):
    _, results = graded
    answers, expected = CLASS[student]
    cells = results[student].cells
    wrong = {
        gid: (cells[gid].outcome, cells[gid].message)
        for gid, passes in expected.items()
        if (cells[gid].outcome == "passed") != passes
    }
    assert not wrong, f"{student} ({answers}): {wrong}"


def test_honest_alternatives_earn_every_autograded_point(graded):
    assignment, results = graded
    for student in ("honest_1", "honest_2"):
        assert results[student].total == assignment.rubric.autograded_total, results[student].cells
