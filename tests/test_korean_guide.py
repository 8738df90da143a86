"""README.md's Korean guide ("## 한국어 안내" to the end) keeps level with the English part:
its command and lesson tables, its measured figures (each one found in benchmarks/RESULTS.md
or beside its own command, date and machine), the GPU caveat, one word for "gradient"."""
import re
from pathlib import Path

import pytest

from minigan import cli, presets

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def guide():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text[text.index("\n## 한국어 안내 (Korean guide)\n"):]


@pytest.fixture(scope="module")
def results():
    return " ".join((ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8").split())


def _table(section, header):
    """The rows of the markdown table whose header row starts with ``header``, as lists of cells."""
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_the_command_table_has_every_command_and_preset(guide):
    first_cells = " ".join(row[0] for row in _table(guide, "| 명령 |"))
    for command in cli.COMMANDS:
        assert f"minigan {command}" in first_cells, command
    for preset in presets.PRESETS:
        assert f"minigan train {preset}" in first_cells, preset


def test_the_lesson_table_gives_every_lesson_its_command(guide):
    rows = _table(guide, "| 레슨 |")
    lessons = sorted(p.name for p in (ROOT / "lessons").glob("[0-9][0-9]_*.py"))
    assert [row[0] for row in rows] == [name[:2] for name in lessons]
    for row, name in zip(rows, lessons):
        assert row[2].startswith(f"`python lessons/{name}"), row


def test_it_says_lesson_output_is_in_english_and_the_gpu_path_never_ran_on_a_gpu(guide):
    assert "출력하는 글(수치, 설명, 오류 메시지, `--help`)은 모두 영어입니다" in guide
    assert "CuPy/GPU 경로는 아직 실제 GPU에서 한 번도 실행된 적이" in guide


def test_gradient_is_one_word(guide):
    """기울기 throughout; 경사 appears only where the glossary says it is not used."""
    assert guide.count("기울기") >= 10
    assert guide.count("경사") == guide.count('"경사"') == 2


def test_its_table1_and_run_time_figures_are_the_measured_ones(guide, results):
    """Every "x ± y" in the guide is a figure of RESULTS.md (or the paper's 225 ± 2), and the run
    times are copied from it; the one figure measured for the guide names its command, date, machine."""
    pm = re.findall(r"\d+\.\d ± \d\.\d", guide)
    assert len(pm) >= 11
    for figure in pm:
        assert figure in results, figure
    for copied in ("29 / 32 / 30 s", "48 / 52 / 50 s", "14-16 s per epoch on two threads alone, 20-27 s on one",
                   "247 s per epoch on two BLAS threads against 75 s on one", "**7.8-8.2 s**", "445 s wall (7.4 min)",
                   "1.1-1.8 s, idle machine", "225.8-227.8 from epoch 40 to 330", "221.1-224.8 from epoch 60",
                   "never (L_inf = 221.8)", "221.3 at best", "(3 of 3;"):
        assert copied in results, copied
    times = " ".join(" ".join(row) for row in _table(guide, "| 무엇 |"))
    for shown in ("29-32 s", "48-52 s", "14-16 s", "20-27 s", "75 s", "247 s", "1.1-1.8 s", "7.8-8.2 s", "445 s"):
        assert shown in times, shown
    lo, hi = 250 * 14 / 3600, 250 * 27 / 3600           # 250 epochs at 14 and at 27 s
    assert f"약 {lo:.1f}-{hi:.1f}시간" in times
    toy = next(row for row in _table(guide, "| 무엇 |") if row[0].startswith("`minigan train` (toy1d"))
    assert "time minigan train toy1d" in toy[2] and "2026-12-06" in toy[2] and "AMD EPYC 2코어" in toy[2]


def test_every_lesson_opens_with_a_korean_summary_of_the_paper_text():
    """Beside each lesson's **Paper:** text, before its "What to look at", a (한국어 요약)."""
    for path in sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py")):
        text = path.read_text(encoding="utf-8")
        head = text[:text.index("**What to look at**")]
        assert "**Paper:**" in head and "(한국어 요약)" in head, path.name
        assert "경사" not in text, path.name            # the guide's one word for gradient is 기울기
