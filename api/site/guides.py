"""The guides' texts in both languages. Numbers (deadlines, periods) are placeholders filled from the latest
published catalogue when a page is rendered (``{alone}``, ``{verify}``, ``{cap}``), never written here."""

from __future__ import annotations

GUIDE_ZH: dict[str, str] = {
    "g_obj_title": "如何提出异议",
    "g_obj_intro": "如果您认为名单或信用档案中关于您的信息有误（例如认定事实、文书号或公示期限不对），可以提出异议。",
    "g_obj_who": "谁可以申请", "g_obj_who_text": "信息主体本人，或持授权委托书的代理人。",
    "g_obj_how": "怎样申请",
    "g_obj_step1": "携带身份证件到信用服务窗口，说明对哪一条信息有异议及理由，并提交证明材料。",
    "g_obj_step2": "窗口核实您的身份后，将异议作为签名记录写入账本；该条信息随即标注为“有异议”，直到处理完毕。",
    "g_obj_step3": "作出认定的部门审查异议并作出处理：维持、更正或撤销。撤销的信息立即从名单上移除。",
    "g_obj_deadlines": "处理期限",
    "g_obj_alone": "一般情况下，认定部门应在受理后 {alone} 个工作日内答复。",
    "g_obj_verify": "需要核查事实的，应在 {verify} 个工作日内答复。",
    "g_obj_days_note": "工作日指周一至周五（目录第 {version} 版的规定）。逾期未处理的异议在档案中显示为“逾期”。",
    "g_obj_statement": "您也可以通过服务窗口为自己的记录附上一份个人声明。",
    "g_rep_title": "如何申请信用修复",
    "g_rep_intro": "失信行为的公示不是永久的。公示期满自动移除；在最短公示期过后，您也可以主动申请信用修复。",
    "g_rep_periods": "各严重程度的期限", "g_rep_severity": "严重程度", "g_rep_min": "最短公示期（此后可申请修复）",
    "g_rep_max": "最长公示期", "g_rep_months": "{n} 个月",
    "g_rep_cap": "无论哪种情况，失信行为结束 {cap} 年后不再公示。期限均从决定日期起算。",
    "g_rep_methods": "修复方式", "g_rep_how": "怎样申请",
    "g_rep_step1": "携带身份证件到信用服务窗口，签署信用承诺书，并提交已纠正失信行为的证明，提出修复申请；窗口核实身份后把承诺和申请作为签名记录写入账本。",
    "g_rep_step2": "作出认定的部门应在 {days} 个工作日内作出决定：同意的，该条信息立即从名单移除，不再共享给其他部门；不同意的，须说明理由。",
    "g_rep_deferral": "需要时间履行义务的，可以在窗口申请延期（最长 {months} 个月）；延期获准期间，该条信息不在名单上公示。",
    "g_rep_explain": "您也可以通过窗口为记录附上一份自主解释，与该条记录一同显示。",
    "g_rep_only_negative": "只有失信（负面）记录需要修复；守信记录在有效期满后自动移除。",
    "g_acc_title": "如何查看谁查询过我",
    "g_acc_intro": "任何部门查询个人信用信息，都必须先把查询（部门、目的、依据）写入公开的账本，然后才能得到数据：没有记录，就没有数据。",
    "g_acc_how": "怎样查看",
    "g_acc_step1": "携带身份证件到信用服务窗口，申请查询本人的信用信息查询记录。",
    "g_acc_step2": "窗口核实身份后，以“本人查询”的目的发起一次签名查询，并记录核验身份的方式；这次查询本身也写入账本。",
    "g_acc_step3": "您将得到每一次涉及您信息的查询：日期、查询部门、目的、范围和结果（不含工作人员编号），按时间由新到旧，每页默认 {page} 条。",
    "g_acc_concern": "发现没有正当理由的查询？",
    "g_acc_concern_text": "可以向隐私保护专员反映；专员定期审查查询记录（例如非工作时间的查询、短时间内多个部门查询同一人）。",
    "g_purpose": "常见查询目的",
}

GUIDE_EN: dict[str, str] = {
    "g_obj_title": "How to object to an entry",
    "g_obj_intro": "If you believe information about you on a list or in your credit file is wrong (the facts, the "
                   "document number, the publication period), you can object.",
    "g_obj_who": "Who may object", "g_obj_who_text": "The person the information is about, or an agent with a "
                                                    "written authorisation.",
    "g_obj_how": "How",
    "g_obj_step1": "Bring your identity document to a credit service window; say which information you object to and "
                   "why, and hand in your evidence.",
    "g_obj_step2": "Once the window has checked who you are, it records the objection in the ledger as a signed "
                   "statement; the information is marked “disputed” until the objection is resolved.",
    "g_obj_step3": "The deciding authority reviews it and upholds, corrects or revokes the information. Revoked "
                   "information leaves the list at once.",
    "g_obj_deadlines": "Deadlines",
    "g_obj_alone": "The authority answers within {alone} working days.",
    "g_obj_verify": "Where facts must be verified, within {verify} working days.",
    "g_obj_days_note": "Working days are Monday to Friday (catalogue version {version}). An objection not answered "
                       "in time shows as “overdue” in the file.",
    "g_obj_statement": "You may also add a statement of your own to your record through a service window.",
    "g_rep_title": "How to apply for credit repair",
    "g_rep_intro": "Publication of untrustworthy conduct is not for ever. It ends by itself at the end of the "
                   "period; after the minimum period you may also apply for repair.",
    "g_rep_periods": "Periods by severity", "g_rep_severity": "Severity",
    "g_rep_min": "Minimum publication (repair possible after)", "g_rep_max": "Maximum publication",
    "g_rep_months": "{n} months",
    "g_rep_cap": "In any case nothing is published more than {cap} years after the conduct ended. Periods count from "
                 "the decision date.",
    "g_rep_methods": "Ways to repair", "g_rep_how": "How",
    "g_rep_step1": "Bring your identity document to a credit service window: sign a credit commitment and apply for "
                   "repair with proof that the conduct was corrected. Once the window has checked who you are, it "
                   "records the commitment and the application in the ledger as signed statements.",
    "g_rep_step2": "The deciding authority decides within {days} working days. Granted, the entry is off the list at "
                   "once and no longer shared; refused, the authority gives its reasons.",
    "g_rep_deferral": "If you need time to fulfil the obligation, apply at a window for a deferral (at most {months} "
                      "months); while a deferral granted runs, the entry is not put on a public list.",
    "g_rep_explain": "You may also add an explanation of your own to the record through a window; it is shown "
                     "next to the record.",
    "g_rep_only_negative": "Only untrustworthy (negative) records are repaired; trustworthy ones leave at the end of "
                           "their validity.",
    "g_acc_title": "How to see who queried your data",
    "g_acc_intro": "A department reading a person's credit data must first record the query (department, purpose, "
                   "legal basis) in the public ledger; only then does it get the data. No log, no data.",
    "g_acc_how": "How",
    "g_acc_step1": "Bring your identity document to a credit service window and ask for your query record.",
    "g_acc_step2": "Once the window has checked who you are, it makes a signed query with the purpose "
                   "“the person's own query”, recording how your identity was checked; that query is in the ledger too.",
    "g_acc_step3": "You receive every query whose answer held your data: date, department, purpose, scope and "
                   "outcome (no staff ids), newest first, {page} a page unless you ask for more.",
    "g_acc_concern": "A query without a good reason?",
    "g_acc_concern_text": "Tell the privacy officer, who reviews the query record regularly (queries outside working "
                          "hours, several departments querying one person within a day, and more).",
    "g_purpose": "Common purposes",
}

GUIDES = {"zh-CN": GUIDE_ZH, "en": GUIDE_EN}

SEVERITY = {"zh-CN": {"minor": "轻微", "general": "一般", "serious": "严重"},
            "en": {"minor": "minor", "general": "general", "serious": "serious"}}
REPAIR_METHOD = {
    "zh-CN": {"fulfilment": "履行法定义务、纠正失信行为", "volunteering": "参加志愿服务", "donation": "慈善捐赠"},
    "en": {"fulfilment": "fulfilling the obligation and correcting the conduct", "volunteering": "volunteering",
           "donation": "charitable donation"},
}
PURPOSE = {
    "zh-CN": {"administrative_licensing": "行政许可", "administrative_penalty": "行政处罚",
              "civil_service_hiring": "公务员录用", "procurement_and_bidding": "政府采购与招投标",
              "public_funding": "财政资金支持", "commendation": "表彰评优", "subject_self_query": "本人查询"},
    "en": {"administrative_licensing": "administrative licensing", "administrative_penalty": "administrative penalty",
           "civil_service_hiring": "civil service hiring", "procurement_and_bidding": "procurement and bidding",
           "public_funding": "public funding", "commendation": "commendation",
           "subject_self_query": "the person's own query"},
}
