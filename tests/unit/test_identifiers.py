from datetime import date

import pytest

from ledger.format.identifiers import (
    IdentifierError, age_on, mask_name, mask_resident_id, resident_check_digit, upgrade_legacy_resident_id,
    uscc_check_char, validate_resident_id, validate_uscc,
)


def test_known_resident_id_is_valid():
    # GB 11643-1999 worked example.
    assert validate_resident_id("11010519491231002X") == "11010519491231002X"
    assert validate_resident_id("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize("wrong", "0123456789")
def test_wrong_check_digit_is_refused_with_expected_digit(wrong):
    with pytest.raises(IdentifierError, match=r"wrong check digit \(expected X\)"):
        validate_resident_id("11010519491231002" + wrong)


@pytest.mark.parametrize("bad_date", ["19490230", "19491301", "20250229", "18991231"])
def test_impossible_birth_date_is_refused(bad_date):
    first17 = "110105" + bad_date + "002"
    with pytest.raises(IdentifierError, match="birth date|out of range"):
        validate_resident_id(first17 + resident_check_digit(first17))


@pytest.mark.parametrize("shape", ["", "1101051949123100", "1101051949123100211", "11010519491231002Y", "１１０１０５１９４９１２３１００２Ｘ"])
def test_malformed_resident_id(shape):
    with pytest.raises(IdentifierError):
        validate_resident_id(shape)


def test_legacy_15_digit_upgrade():
    assert upgrade_legacy_resident_id("110105491231002") == "11010519491231002X"


def test_masking():
    assert mask_resident_id("37020219800517123X") == "3702**********123X"
    assert mask_name("张三丰") == "张*"


def test_age():
    assert age_on("11010519491231002X", date(1967, 12, 30)) == 17
    assert age_on("11010519491231002X", date(1967, 12, 31)) == 18


def test_uscc_check_character():
    # A published code: 91350100M000100Y43 (GB 32100-2015 annex example).
    assert uscc_check_char("91350100M000100Y4") == "3"
    assert validate_uscc("91350100M000100Y43") == "91350100M000100Y43"
    with pytest.raises(IdentifierError, match=r"wrong check character \(expected 3\)"):
        validate_uscc("91350100M000100Y44")


def test_uscc_override_admits_only_the_named_code():
    assert validate_uscc("91350100M000100Y44", overrides=frozenset({"91350100M000100Y44"})) == "91350100M000100Y44"
    with pytest.raises(IdentifierError):
        validate_uscc("91350100M000100Y45", overrides=frozenset({"91350100M000100Y44"}))


@pytest.mark.parametrize("bad", ["91350100M000100Y4", "91350100M000100I43", "91350100m000100y43x"])
def test_uscc_alphabet_and_length(bad):
    with pytest.raises(IdentifierError):
        validate_uscc(bad)
