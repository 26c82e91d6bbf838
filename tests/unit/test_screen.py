"""The personal-data screen for public text: every kind it finds, what it must leave alone, masking."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

import pytest
from hypothesis import given, settings, strategies as st

from ledger.errors import ValidationError
from ledger.format.identifiers import resident_check_digit
from ledger.domain.screen import KINDS, WORDS, find, is_resident_id_like, luhn, mask, refuse_personal_data, screen

BRIEF = "李四 (ID 370202199001011237, phone 13800000000) sold counterfeit milk powder"
CARD = "6222021234567890128"  # 19 digits, Luhn-valid
assert luhn(CARD)


def resident_id(born: date, seq: int = 123) -> str:
    first17 = "370202" + born.strftime("%Y%m%d") + f"{seq:03d}"
    return first17 + resident_check_digit(first17)


def test_the_department_summary_that_reached_the_black_list():
    assert screen(BRIEF, "李四") == ["resident_id", "phone", "name"]
    masked = mask(BRIEF, "李四")
    assert masked == "李* (ID [ID number], phone [phone]) sold counterfeit milk powder"
    assert screen(masked, "李四") == []


@pytest.mark.parametrize("text", [
    "370202199001011237", "ID 37020219900101123X.", "身份证37020219900101123x号", "370202 19900101 1237",
    "3702-0219-9001-0112-37", "old card 370202900101123", "３７０２０２１９９００１０１１２３７", "37020219900101\u200b1237",
    "checked 2026-02-27 370202199001011237",
])
def test_resident_ids(text):
    assert screen(text) == ["resident_id"]


@pytest.mark.parametrize("text", [
    "13800000000", "tel 138 0000 0000", "138-0000-0000", "+86 13800000000", "+86 138 0000 0000", "手机：15912345678",
    "0532-88888888", "(0532) 8888 8888", "053288888888", "010-12345678", "电话：8888 8888", "联系电话 88888888",
    "phone: 8888-8888", "１３８００００００００", "2026-02-27 13800000000",
])
def test_phone_numbers(text):
    assert screen(text) == ["phone"]


@pytest.mark.parametrize("text", [
    CARD, " ".join(CARD[i:i + 4] for i in range(0, 19, 4)), "-".join(CARD[i:i + 4] for i in range(0, 16, 4)) + CARD[16:],
    "card 4111 1111 1111 1111", "卡号4111111111111111", "622202 1234567890128",
])
def test_bank_cards_passing_luhn(text):
    assert screen(text) == ["bank_card"]


@pytest.mark.parametrize("text", ["a@b.cn", "write to li.si+x@mail.example.com.cn today", "lisi＠qq．com"])
def test_email_addresses(text):
    assert screen(text) == ["email"]


@pytest.mark.parametrize("name, text", [
    ("李四", "李四 sold milk"), ("李四", "当事人李 四销售"), ("李四", "当事人李\u3000四"), ("王小明", "王小明"),
    ("Li Si", "LI SI appealed"), ("Li Si", "Mr Lisi"), ("John Smith", "Smith paid the fine"),
    ("阿卜杜·热合曼", "阿卜杜热合曼"), ("李四", "李\u200d四"),
])
def test_the_subjects_name(name, text):
    assert screen(text, name) == ["name"]


def test_every_name_a_record_held():
    assert screen("王五 paid", ["李四", "王五"]) == ["name"]
    assert mask("王五 paid", ["李四", "王五"]) == "李* paid"  # the current name's masked form


@pytest.mark.parametrize("text, name", [
    ("Serious untrustworthy conduct: food and drugs", "李四"),
    ("Food Safety Law art. 124; Administrative Penalty Law art. 9", "李四"),
    ("青市监罚〔2026〕15号", "李四"), ("QSJ-1a2b3c4d", "李四"), ("decided 2026-02-27, fine 50000 yuan", "李四"),
    ("authority 91370200MA3C00001N", "李四"), ("code 113702000000000001", "李四"),  # no birth date: not an ID
    ("370202199013011230", "李四"),  # month 13 (and not a card number either)
    ("4111 1111 1111 1112", None),  # fails Luhn
    ("2026-02-27 1234567890123", None),  # a date then a number: not written as one card
    ("pay 88888888 yuan", None),  # no phone word before it
    ("Lithium batteries", "Li Si"), ("四季", "李四"), ("", "李四"), ("text", ""), ("text", "  "),
    ("fulfil the penalty decision and publish a credit commitment", "王"),  # a one-character name is not screened
])
def test_what_is_not_personal_data(text, name):
    assert screen(text, name) == []
    assert mask(text, name) == text


def test_kinds_never_carry_the_text():
    kinds = screen(BRIEF + " lisi@example.com " + CARD, "李四")
    assert kinds == list(KINDS) and all(k in KINDS for k in kinds)
    assert [f.kind for f in find(BRIEF, "李四")] == ["name", "resident_id", "phone"]


def test_mask_keeps_the_rest_and_covers_invisible_characters():
    text = "经查，李\u200b四（身份证３７０２０２１９９００１０１１２３７）于2026-02-27售假，联系电话0532-88888888。"
    assert mask(text, "李四") == "经查，李*（身份证[ID number]）于2026-02-27售假，联系电话[phone]。"
    assert mask("call (0532) 8888 8888 or +86 138 0000 0000", None) == "call [phone] or [phone]"


def test_refusal_names_the_field_and_kinds_but_not_the_data():
    values = {"public_reason": "Sold counterfeit milk powder", "remedies": "call 13800000000 or mail lisi@example.com"}
    with pytest.raises(ValidationError) as err:
        refuse_personal_data(values, "李四")
    message = str(err.value)
    assert message.startswith("remedies holds personal data (a phone number, an e-mail address)")
    assert "13800000000" not in message and "lisi@example.com" not in message
    with pytest.raises(ValidationError, match=r"public_reason holds personal data \(the subject's name\)") as err:
        refuse_personal_data({"public_reason": "李四 sold counterfeit milk powder"}, ["李四"])
    assert "李四" not in str(err.value)
    refuse_personal_data({"public_reason": "Sold counterfeit milk powder", "list": "black"}, "李四")
    refuse_personal_data({}, "李四")
    assert set(WORDS) == set(KINDS)


def test_luhn_and_id_shapes():
    assert luhn("79927398713") and not luhn("79927398710") and luhn("4111111111111111")
    assert is_resident_id_like("11010519491231002X") and is_resident_id_like("110105491231002")
    assert not is_resident_id_like("01010519491231002X") and not is_resident_id_like("110105194912310021X")


# Properties: any ID, mobile or card, written plainly or in groups, inside any text, is found and masked.

_filler = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20).filter(
    lambda s: not any(c.isdigit() or c in "+(@" for c in unicodedata.normalize("NFKC", s)))
_ids = st.builds(lambda days, seq: resident_id(date(1940, 1, 1) + timedelta(days=days), seq),
                 st.integers(0, 30_000), st.integers(0, 999))
_mobiles = st.builds(lambda p, rest: f"1{p}{rest:09d}", st.sampled_from("3456789"), st.integers(0, 10**9 - 1))


def _luhn_complete(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn(body + d))


_cards = st.builds(lambda n, body: _luhn_complete(("62" + f"{body:017d}")[:n - 1]), st.integers(16, 19),
                   st.integers(0, 10**17 - 1))


def _grouped(number: str, style: int) -> str:
    if style == 0:
        return number
    sep = " -"[style - 1]
    return sep.join(number[i:i + 4] for i in range(0, len(number), 4))


@settings(max_examples=200, deadline=None)
@given(before=_filler, after=_filler, kind_number=st.one_of(
    st.tuples(st.just("resident_id"), _ids), st.tuples(st.just("phone"), _mobiles),
    st.tuples(st.just("bank_card"), _cards)), style=st.integers(0, 2))
def test_any_number_in_any_text_is_found_and_masked(before, after, kind_number, style):
    kind, number = kind_number
    if kind == "bank_card" and is_resident_id_like(number):
        kind = "resident_id"
    text = before + " " + _grouped(number, style) + " " + after
    assert kind in screen(text)
    masked = mask(text)
    assert re.sub(r"\D", "", number) not in re.sub(r"\D", "", masked.replace(before, "").replace(after, ""))
    assert screen(masked) == []
