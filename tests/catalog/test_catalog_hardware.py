import pytest

from tokbench.catalog.hardware import catalog, get_hardware
from tokbench.errors import UserError

ISSUE_IDS = """m1 m1-pro m1-max m1-ultra m2 m2-pro m2-max m2-ultra-60c m2-ultra-76c m3 m3-pro m3-max-30c
m3-max-40c m3-ultra-60c m3-ultra-80c m4 m4-pro m4-max-32c m4-max-40c h100-sxm h100-pcie h200 a100-40gb
a100-80gb-sxm a100-80gb-pcie rtx-3090 rtx-4090 rtx-5090 dgx-spark ryzen-ai-max-395""".split()


def test_every_issue_hardware_id_is_in_the_catalog():
    assert set(ISSUE_IDS) <= set(catalog())


def test_memory_option_and_default_largest():
    hw = get_hardware("m3-ultra-80c:256")
    assert hw.memory_gb == 256 and hw.bandwidth_gbs == 819
    assert get_hardware("m3-ultra-80c").memory_gb == 512


def test_id_without_core_count_picks_largest_variant():
    assert get_hardware("m3-ultra").id == "m3-ultra-80c"
    assert get_hardware("m4-max").id == "m4-max-40c"
    assert get_hardware("m2-ultra").id == "m2-ultra-76c"


def test_unsold_memory_size_is_a_user_error():
    with pytest.raises(UserError, match="not sold with 192 GB"):
        get_hardware("m3-ultra-80c:192")


def test_unknown_hardware_names_close_matches():
    with pytest.raises(UserError, match="m3-ultra-80c"):
        get_hardware("m3-ultra-80")
