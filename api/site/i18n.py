"""The site's two languages: Chinese (``zh-CN``, the default) and English; which one a request gets, and
dates and times in each reader's form.

A request's language is its ``?lang=`` parameter, else the ``lang`` cookie (set by the language switch),
else the first of its ``Accept-Language`` choices that the site speaks, else Chinese. The texts are two
dictionaries with the same keys (``MESSAGES``); the longer texts of the guides are in ``guides``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from api.site.guides import GUIDES

LANGUAGES = ("zh-CN", "en")
DEFAULT = "zh-CN"
COOKIE = "lang"
BEIJING = timezone(timedelta(hours=8))
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

ZH: dict[str, str] = {
    "site": "信用青岛", "site_sub": "严重失信主体名单与守信激励名单公示",
    "skip": "跳到正文", "nav": "主导航", "nav_home": "首页", "nav_black": "黑名单", "nav_red": "红名单",
    "nav_objection": "异议申请", "nav_repair": "信用修复", "nav_access": "查询记录", "nav_transparency": "公开验证",
    "language": "语言", "other_language": "English", "other_lang_code": "en",
    "black": "严重失信主体名单（黑名单）", "red": "守信激励名单（红名单）",
    "black_short": "黑名单", "red_short": "红名单",
    "black_intro": "经依法认定、已送达告知并在公示期内的严重失信行为。公示期满、信用修复、撤销或撤回后即不再公示。",
    "red_intro": "在有效期内的表彰奖励等守信信息。同时在黑名单上的主体不列入红名单。",
    "home_intro": "本网站依托“信用青岛”公示严重失信行为与守信激励信息，并提供公众查询渠道。"
                  "所有姓名和身份证号码均经遮蔽处理；未成年人信息一律不予公示。",
    "latest": "最新公示", "view_all": "查看全部",
    "search": "搜索", "search_label": "关键词（遮蔽姓名、类别、事由、认定部门或文书号）",
    "search_hint": "不能按身份证号码或完整姓名搜索：名单只显示遮蔽后的姓名（如“张*”）和身份证号。",
    "search_list": "名单", "search_results": "搜索结果", "search_both": "两个名单",
    "search_refused_id": "您输入的内容像身份证号码。按身份证号码查询个人不被支持，未执行搜索：名单上的身份证号码均已遮蔽。",
    "search_name_note": "您输入的内容像完整姓名。名单上的姓名均已遮蔽（如“张*”），按完整姓名无法查到任何人；"
                        "下列结果只来自类别、事由、认定部门和文书号。",
    "filters": "筛选与排序", "field": "领域", "any_field": "全部领域", "authority": "认定部门",
    "any_authority": "全部部门", "from": "决定日期（起）", "to": "决定日期（止）", "sort": "排序",
    "sort_-decision_date": "决定日期（新→旧）", "sort_decision_date": "决定日期（旧→新）",
    "sort_authority": "认定部门名称", "apply": "应用", "reset": "清除筛选",
    "col_name": "姓名", "col_id": "身份证号", "col_category": "类别", "col_reason": "事由",
    "col_authority": "认定部门", "col_document": "文书号", "col_decided": "决定日期", "col_until": "公示截止",
    "col_details": "详情", "details": "详情",
    "caption": "{list}，第 {page} 页，本页 {count} 条", "none": "没有符合条件的公示信息。",
    "next": "下一页", "first": "第一页", "page": "第 {page} 页",
    "reflects": "本页数据对应账本位置 {position}；读取时最新的签名检查点：树大小 {size}，根哈希 {root}，签署于 {time}。",
    "reflects_none": "本页数据对应账本位置 {position}；尚无签名检查点。",
    "reflects_check": "如何核对截图", "as_of_day": "公示日期：{day}",
    "entry_title": "公示详情", "entry_list": "所在名单", "legal_basis": "法律依据", "document": "决定文书号",
    "authority_code": "认定部门统一社会信用代码", "exit": "退出条件", "remedies": "救济途径", "not_given": "未载明",
    "category": "失信/守信类别", "reason": "公示事由", "name": "姓名", "id_number": "身份证号",
    "decided": "决定日期", "until": "公示截止日期",
    "entry_actions": "对本条有异议，或希望申请信用修复？",
    "not_found": "未找到", "not_found_text": "该页面不存在，或该条目不在公示名单上（可能已期满、修复、撤销或撤回）。",
    "bad_request": "请求有误", "back": "返回",
    "err_date": "“{value}”不是有效日期。", "err_authority": "认定部门代码应为 18 位数字或大写字母。",
    "err_long": "输入过长。", "err_cursor": "分页参数无效，请从第一页开始。", "err_sort": "排序方式无效。",
    "err_range": "起始日期晚于截止日期。",
    "tr_title": "公开验证", "tr_intro": "账本的每一条记录都是一棵 RFC 9162 默克尔树的叶子；服务定期签署检查点（树大小与根哈希）。"
                "任何人都可以用日志验证公钥核对检查点，并要求证明某条记录包含在树中。",
    "tr_latest": "最新签名检查点", "tr_size": "树大小（条）", "tr_root": "根哈希（base64）", "tr_time": "签署时间",
    "tr_note": "签名文本（C2SP signed note）", "tr_key": "日志验证公钥", "tr_none": "尚未签署检查点。",
    "tr_position": "名单当前对应的账本位置", "tr_how": "如何验证",
    "footer": "本网站不使用任何外部资源或脚本；字体使用您设备上的中文字体。",
    "footer_json": "机器可读数据：", "time_zone": "北京时间", "colon": "：",
    "tr_step1": "从可信渠道取得并固定日志验证公钥（见上）和主管部门的授权公钥。",
    "tr_step2": "下载最新检查点（GET /v1/log/checkpoint），用验证公钥核对其签名（C2SP signed note）。",
    "tr_step3": "对某一条记录请求包含证明（GET /v1/log/proof/inclusion?leaf_index=I&tree_size=N），按 RFC 9162 算出根哈希，与检查点比较。",
    "tr_step4": "对先后两个检查点请求一致性证明（GET /v1/log/proof/consistency?first=M&second=N），确认日志只追加、未被改写。",
    "tr_step5": "审计人员可运行 credit-ledger audit verify，逐条核对整个账本。",
    "tr_screens": "如何核对名单截图",
    "tr_screens_text": "每个名单页面都写明其对应的账本位置，以及读取时最新的签名检查点。日后核对截图时，审计人员以该账本位置"
                       "发起 as_of_lists 查询，得到的条目应与截图一致；检查点可用验证公钥核对签名，并用一致性证明与之后的检查点比对。",
}

EN: dict[str, str] = {
    "site": "Credit Qingdao", "site_sub": "Public lists of serious untrustworthy and of trustworthy conduct",
    "skip": "Skip to content", "nav": "Main", "nav_home": "Home", "nav_black": "Black list", "nav_red": "Red list",
    "nav_objection": "Objections", "nav_repair": "Credit repair", "nav_access": "Who queried me",
    "nav_transparency": "Verification", "language": "Language", "other_language": "中文", "other_lang_code": "zh-CN",
    "black": "Black list (serious untrustworthy conduct)", "red": "Red list (trustworthy conduct)",
    "black_short": "Black list", "red_short": "Red list",
    "black_intro": "Serious untrustworthy conduct decided by law, notified to the person, within its publication "
                   "period. An entry leaves at the end of the period, on credit repair, revocation or withdrawal.",
    "red_intro": "Commendations and other trustworthy conduct within their validity. A person on the black list is "
                 "not shown on the red list.",
    "home_intro": "The city's public credit site publishes serious untrustworthy conduct and commendations and offers "
                  "public query channels. Every name and ID number is masked; minors are never listed.",
    "latest": "Latest entries", "view_all": "See the whole list",
    "search": "Search", "search_label": "Words (masked name, category, reason, authority or document number)",
    "search_hint": "You cannot search by ID number or full name: the lists show masked names (such as 张*) and "
                   "masked ID numbers only.",
    "search_list": "List", "search_results": "Search results", "search_both": "Both lists",
    "search_refused_id": "This looks like an ID number. Looking a person up by ID number is not possible, so nothing "
                         "was searched: the ID numbers on the lists are masked.",
    "search_name_note": "This looks like a full name. Names on the lists are masked (such as 张*), so a full name "
                        "finds no one; the results below come from categories, reasons, authorities and document "
                        "numbers only.",
    "filters": "Filter and sort", "field": "Field", "any_field": "All fields", "authority": "Deciding authority",
    "any_authority": "All authorities", "from": "Decided from", "to": "Decided until", "sort": "Sort by",
    "sort_-decision_date": "Decision date, newest first", "sort_decision_date": "Decision date, oldest first",
    "sort_authority": "Authority name", "apply": "Apply", "reset": "Clear filters",
    "col_name": "Name", "col_id": "ID number", "col_category": "Category", "col_reason": "Reason",
    "col_authority": "Authority", "col_document": "Document", "col_decided": "Decided", "col_until": "Public until",
    "col_details": "Details", "details": "Details",
    "caption": "{list}, page {page}: {count} entries", "none": "No entries match.",
    "next": "Next page", "first": "First page", "page": "Page {page}",
    "reflects": "This page reflects ledger position {position}; the latest signed checkpoint when it was read: tree "
                "size {size}, root {root}, signed {time}.",
    "reflects_none": "This page reflects ledger position {position}; no checkpoint has been signed yet.",
    "reflects_check": "How to check a screenshot", "as_of_day": "Lists as of {day}",
    "entry_title": "Entry", "entry_list": "List", "legal_basis": "Legal basis", "document": "Document number",
    "authority_code": "Authority's unified social credit code", "exit": "Exit conditions", "remedies": "Remedies",
    "not_given": "Not stated", "category": "Category", "reason": "Reason", "name": "Name", "id_number": "ID number",
    "decided": "Decision date", "until": "Public until",
    "entry_actions": "Do you object to this entry, or want to apply for credit repair?",
    "not_found": "Not found", "not_found_text": "There is no such page, or the entry is not on a public list (its "
                                                "period may have ended, or it was repaired, revoked or withdrawn).",
    "bad_request": "Bad request", "back": "Back",
    "err_date": "“{value}” is not a real date.", "err_authority": "An authority's code is 18 digits or capital letters.",
    "err_long": "The input is too long.", "err_cursor": "The page link is not valid; start from the first page.",
    "err_sort": "Unknown order.", "err_range": "The start date is after the end date.",
    "tr_title": "Verification", "tr_intro": "Every entry of the ledger is a leaf of an RFC 9162 Merkle tree; the "
                "service signs checkpoints (tree size and root) as it grows. Anyone can check a checkpoint with the "
                "log's verifier key and ask for proof that an entry is in the tree.",
    "tr_latest": "Latest signed checkpoint", "tr_size": "Tree size (entries)", "tr_root": "Root hash (base64)",
    "tr_time": "Signed at", "tr_note": "Signed text (C2SP signed note)", "tr_key": "Log verifier key",
    "tr_none": "No checkpoint has been signed yet.", "tr_position": "Ledger position the lists reflect now",
    "tr_how": "How to verify",
    "footer": "This site loads nothing from elsewhere and runs no scripts; it uses your device's fonts.",
    "footer_json": "Machine-readable data:", "time_zone": "Beijing time", "colon": ": ",
    "tr_step1": "Obtain the log's verifier key (above) and the authority's public key from a trusted channel, and pin them.",
    "tr_step2": "Fetch the latest checkpoint (GET /v1/log/checkpoint) and check its signature with the verifier key "
                "(C2SP signed note).",
    "tr_step3": "For an entry, ask for its inclusion proof (GET /v1/log/proof/inclusion?leaf_index=I&tree_size=N), "
                "compute the root as RFC 9162 says and compare it with the checkpoint's.",
    "tr_step4": "For two checkpoints, ask for a consistency proof (GET /v1/log/proof/consistency?first=M&second=N): the "
                "log was only appended to, never rewritten.",
    "tr_step5": "Auditors can run credit-ledger audit verify to check the whole ledger entry by entry.",
    "tr_screens": "How to check a screenshot of a list",
    "tr_screens_text": "Every list page names the ledger position it reflects and the latest signed checkpoint when it "
                       "was read. To check a screenshot later, an auditor makes an as_of_lists query at that position: "
                       "its entries are the ones the page showed. The checkpoint's signature checks with the verifier "
                       "key, and a consistency proof links it to any later checkpoint.",
}

MESSAGES = {"zh-CN": ZH, "en": EN}


class Attrs(SimpleNamespace):
    """Values a template reads by name (``t.site``) or by a computed key (``t[key]``). Jinja tries an attribute
    first: on a plain dict every lookup raised and caught an exception, a third of a list page's rendering."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(**values)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)


def negotiate(param: str | None, cookie: str | None, accept: str | None) -> tuple[str, bool]:
    """The language of a request, and whether the request chose it by ``?lang=`` (links then keep it)."""
    if param in LANGUAGES:
        return param, True
    if cookie in LANGUAGES:
        return cookie, False
    choices: list[tuple[float, int, str]] = []
    for n, part in enumerate((accept or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for p in params.split(";"):
            key, _, value = p.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        choices.append((-quality, n, tag.strip().lower()))
    for negative, _, tag in sorted(choices):
        if negative < 0 and tag.startswith("zh"):
            return "zh-CN", False
        if negative < 0 and tag.startswith("en"):
            return "en", False
    return DEFAULT, False


def format_date(value: str | date | None, lang: str) -> str:
    """``2026-02-27`` as 2026年2月27日 (Chinese) or 27 Feb 2026 (English); anything else as given."""
    if value is None:
        return ""
    try:
        day = value if isinstance(value, date) else date.fromisoformat(value[:10])
    except ValueError:
        return str(value)
    if lang == "zh-CN":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def format_time(value: str | None, lang: str) -> str:
    """An RFC 3339 UTC time in Beijing time, in the reader's form (``2026年2月27日 14:05:09`` or
    ``27 Feb 2026 14:05:09``)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(BEIJING)
    except ValueError:
        return value
    return f"{format_date(moment.date(), lang)} {moment:%H:%M:%S}"


_TEXTS = {lang: Attrs({**MESSAGES[lang], **GUIDES[lang]}) for lang in LANGUAGES}


def texts(lang: str) -> Attrs:
    """Every text of a language: the messages and the guides' texts."""
    return _TEXTS[lang]
