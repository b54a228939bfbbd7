"""The machine's CPU and RAM readings behind nv_cpu_*: /proc parsing and the utilization window."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.serve.host import CpuTimes, CpuUtilization, HostMemory, read_cpu_times, read_memory

# The first lines of a real /proc/stat (2 cores), and the fields of a kernel before 2.6.11.
STAT = ("cpu  33804 16 6940 21743 335 0 177 128 40 0\n"
        "cpu0 14423 5 3142 13844 42 0 43 53 0 0\n")
OLD_STAT = "cpu  100 0 50 850\n"

MEMINFO = """MemTotal:       24683652 kB
MemFree:        20012345 kB
MemAvailable:   24042348 kB
Buffers:          123456 kB
"""


def test_cpu_line_splits_busy_and_idle(tmp_path: Path) -> None:
    """busy = user+nice+system+irq+softirq+steal, idle = idle+iowait; guest is not added twice."""
    (tmp_path / "stat").write_text(STAT)
    times = read_cpu_times(str(tmp_path / "stat"))
    assert times == CpuTimes(busy=33804 + 16 + 6940 + 0 + 177 + 128, idle=21743 + 335)
    assert CpuTimes.parse(OLD_STAT) == CpuTimes(busy=150, idle=850)


def test_unreadable_or_foreign_stat_gives_none(tmp_path: Path) -> None:
    """A missing file or a first line that is not the aggregate cpu line reads as None."""
    assert read_cpu_times(str(tmp_path / "absent")) is None
    (tmp_path / "stat").write_text("cpu0 1 2 3 4 5\n")
    assert read_cpu_times(str(tmp_path / "stat")) is None


def test_meminfo_used_is_total_minus_available(tmp_path: Path) -> None:
    """kB in /proc/meminfo are KiB; used is MemTotal - MemAvailable."""
    (tmp_path / "meminfo").write_text(MEMINFO)
    assert read_memory(str(tmp_path / "meminfo")) == HostMemory(
        total_bytes=24683652 * 1024, used_bytes=(24683652 - 24042348) * 1024)


def test_meminfo_without_available_gives_none(tmp_path: Path) -> None:
    """Without MemAvailable (kernels before 3.14) there is no honest 'used': None."""
    (tmp_path / "meminfo").write_text("MemTotal: 1000 kB\nMemFree: 10 kB\n")
    assert read_memory(str(tmp_path / "meminfo")) is None
    assert read_memory(str(tmp_path / "absent")) is None


def test_this_machine_has_readings() -> None:
    """On Linux both readers return values that make sense."""
    times, memory = read_cpu_times(), read_memory()
    assert times is not None and times.busy > 0 and times.idle > 0
    assert memory is not None and 0 < memory.used_bytes <= memory.total_bytes


class Script:
    """A reader of /proc/stat that returns scripted readings, and a clock set by the test."""

    def __init__(self, *readings: CpuTimes | None) -> None:
        self.readings = list(readings)
        self.now = 0.0

    def read(self) -> CpuTimes | None:
        return self.readings.pop(0)

    def clock(self) -> float:
        return self.now


def test_ratio_is_busy_share_since_the_previous_window() -> None:
    """Each window reports busy/(busy+idle) of the ticks spent since the previous one."""
    s = Script(CpuTimes(100, 900), CpuTimes(130, 970), CpuTimes(230, 970))
    cpu = CpuUtilization(s.read, s.clock, min_window_s=1.0)
    s.now = 2.0
    assert cpu.ratio() == pytest.approx(30 / 100)
    s.now = 4.0
    assert cpu.ratio() == 1.0


def test_scrapes_inside_the_minimum_window_reuse_the_last_ratio() -> None:
    """A second scrape 0.1 s later does not read /proc/stat and returns the same ratio."""
    s = Script(CpuTimes(0, 0), CpuTimes(50, 150), CpuTimes(60, 150))
    cpu = CpuUtilization(s.read, s.clock, min_window_s=1.0)
    s.now = 1.5
    assert cpu.ratio() == 0.25
    s.now = 1.6
    assert cpu.ratio() == 0.25 and len(s.readings) == 1
    s.now = 2.6
    assert cpu.ratio() == 1.0


def test_counters_stepping_back_or_standing_still_stay_in_range() -> None:
    """iowait can decrease between reads; no ticks elapsed keeps the previous ratio."""
    s = Script(CpuTimes(100, 1000), CpuTimes(150, 990), CpuTimes(150, 990))
    cpu = CpuUtilization(s.read, s.clock, min_window_s=0.0)
    assert cpu.ratio() == 1.0  # idle went backwards: counted as 0, not negative
    assert cpu.ratio() == 1.0  # nothing elapsed: the last ratio, not 0/0


def test_first_scrape_without_ticks_reads_zero_and_no_proc_reads_none() -> None:
    """Zero elapsed ticks before any ratio reads 0.0; no /proc/stat at all reads None."""
    s = Script(CpuTimes(5, 5), CpuTimes(5, 5))
    assert CpuUtilization(s.read, s.clock, min_window_s=0.0).ratio() == 0.0
    s = Script(None, None)
    assert CpuUtilization(s.read, s.clock, min_window_s=0.0).ratio() is None
