"""Codes shared by every event: service types, channels, statuses and categories.

Published events carry these codes, never free text, so that a national view needs no personal data.
Each enum member's label is the term used on the platform itself.
"""

from __future__ import annotations

from enum import StrEnum


class LabelledEnum(StrEnum):
    """A code with the Chinese term the platform uses for it."""

    label: str

    def __new__(cls, value: str, label: str = "") -> LabelledEnum:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label or value
        return member


class ServiceType(LabelledEnum):
    """The "3+X" services: three basic ones and the extended ones."""

    LEGAL_AID = "legal_aid", "法律援助"
    MEDIATION = "mediation", "人民调解"
    CONSULTATION = "consultation", "法律咨询"
    LAWYER = "lawyer", "律师"
    NOTARIZATION = "notarization", "公证"
    JUDICIAL_APPRAISAL = "judicial_appraisal", "司法鉴定"
    ARBITRATION = "arbitration", "仲裁"
    LEGAL_PUBLICITY = "legal_publicity", "法治宣传"


class Channel(LabelledEnum):
    """How the request reached the platform."""

    HOTLINE_12348 = "hotline_12348", "12348热线"
    WEB = "web", "网站"
    WECHAT = "wechat", "掌上12348"
    APP = "app", "移动应用"
    WALK_IN = "walk_in", "实体平台"
    TRANSFER_12345 = "transfer_12345", "12345转办"
    COURT_REFERRAL = "court_referral", "法院委派"


class PlatformLevel(LabelledEnum):
    """The level of the physical platform a walk-in request came to."""

    COUNTY_CENTRE = "county_centre", "县级公共法律服务中心"
    TOWNSHIP_STATION = "township_station", "乡镇公共法律服务工作站"
    VILLAGE_ROOM = "village_room", "村居公共法律服务工作室"


class ApplicantCategory(LabelledEnum):
    """Applicant categories other systems route on (Legal Aid Law Art. 42 and practice)."""

    LOW_INCOME = "low_income", "经济困难"
    DISABLED = "disabled", "残疾人"
    MINOR = "minor", "未成年人"
    ELDERLY = "elderly", "老年人"
    MIGRANT_WORKER = "migrant_worker", "农民工"
    MILITARY_FAMILY = "military_family", "军人军属"
    DOMESTIC_VIOLENCE = "domestic_violence", "家庭暴力受害妇女"


class CaseStatus(LabelledEnum):
    """Where a case stands in its lifecycle."""

    RECEIVED = "received", "已受理登记"
    ACCEPTED = "accepted", "已受理"
    REJECTED = "rejected", "不予受理"
    ASSIGNED = "assigned", "已指派"
    IN_PROGRESS = "in_progress", "办理中"
    CONCLUDED = "concluded", "已办结"
    CALLBACK_DONE = "callback_done", "已回访"
    RATED = "rated", "已评价"
    TRANSFERRED = "transferred", "已转外省"


class RejectionReason(LabelledEnum):
    """Why a request was not taken on."""

    NOT_ELIGIBLE_FINANCIAL = "not_eligible_financial", "经济状况不符合条件"
    OUTSIDE_SCOPE = "outside_scope", "不属于服务范围"
    INSUFFICIENT_MATERIALS = "insufficient_materials", "材料不全"
    NO_JURISDICTION = "no_jurisdiction", "不属于本机构管辖"
    DUPLICATE_APPLICATION = "duplicate_application", "重复申请"
    WITHDRAWN_BY_APPLICANT = "withdrawn_by_applicant", "申请人撤回"
    OTHER = "other", "其他"


class ReopenReason(LabelledEnum):
    """Why a closed or rejected case was opened again."""

    OBJECTION_UPHELD = "objection_upheld", "异议成立"
    NEW_FACTS = "new_facts", "出现新情况"
    AGREEMENT_NOT_PERFORMED = "agreement_not_performed", "协议未履行"
    SUPERVISION_ORDER = "supervision_order", "督办"
    OTHER = "other", "其他"


class Outcome(LabelledEnum):
    """The outcome category a concluded case is recorded with."""

    ADVICE_GIVEN = "advice_given", "已解答"
    AGREEMENT_REACHED = "agreement_reached", "调解成功"
    NO_AGREEMENT = "no_agreement", "调解不成"
    REPRESENTATION_COMPLETED = "representation_completed", "代理完毕"
    AID_TERMINATED = "aid_terminated", "终止援助"
    NOTARIZED = "notarized", "已出证"
    APPRAISAL_ISSUED = "appraisal_issued", "已出具鉴定意见"
    AWARD_MADE = "award_made", "已裁决"
    REFERRED_ELSEWHERE = "referred_elsewhere", "已引导至其他途径"
    WITHDRAWN = "withdrawn", "撤回"


class CallbackResult(LabelledEnum):
    """What a callback (回访) found."""

    SATISFIED = "satisfied", "满意"
    DISSATISFIED = "dissatisfied", "不满意"
    UNREACHABLE = "unreachable", "未联系上"


class AgencyType(LabelledEnum):
    """Kinds of legal service agency and platform."""

    LAW_FIRM = "law_firm", "律师事务所"
    NOTARY_OFFICE = "notary_office", "公证机构"
    JUDICIAL_APPRAISAL_INSTITUTION = "judicial_appraisal_institution", "司法鉴定机构"
    LEGAL_AID_CENTRE = "legal_aid_centre", "法律援助中心"
    MEDIATION_COMMITTEE = "mediation_committee", "人民调解委员会"
    ARBITRATION_COMMISSION = "arbitration_commission", "仲裁委员会"
    BASIC_LEGAL_SERVICE_OFFICE = "basic_legal_service_office", "基层法律服务所"
    PLS_CENTRE = "pls_centre", "公共法律服务中心"
    PLS_STATION = "pls_station", "公共法律服务工作站"
    PLS_ROOM = "pls_room", "公共法律服务工作室"
    VILLAGE_LEGAL_ADVISER = "village_legal_adviser", "村居法律顾问"


class LicenceStatus(LabelledEnum):
    """Standing of an agency's practising licence."""

    ACTIVE = "active", "正常"
    SUSPENDED = "suspended", "停业整顿"
    REVOKED = "revoked", "吊销"


class LicenceAction(LabelledEnum):
    """Why a licence's standing changed."""

    SANCTION = "sanction", "行政处罚"
    ANNUAL_REVIEW_FAILED = "annual_review_failed", "年度考核不合格"
    COURT_ORDER = "court_order", "司法裁判"
    VOLUNTARY = "voluntary", "自行申请"
    SANCTION_ENDED = "sanction_ended", "处罚期满"
    REVIEW_PASSED = "review_passed", "复核通过"
    OTHER = "other", "其他"


class PersonnelRole(LabelledEnum):
    """A practitioner's role at an agency."""

    LAWYER = "lawyer", "律师"
    NOTARY = "notary", "公证员"
    APPRAISER = "appraiser", "司法鉴定人"
    MEDIATOR = "mediator", "人民调解员"
    LEGAL_AID_WORKER = "legal_aid_worker", "法律援助人员"
    ARBITRATOR = "arbitrator", "仲裁员"
    GRASSROOTS_LEGAL_WORKER = "grassroots_legal_worker", "基层法律服务工作者"
    VILLAGE_LEGAL_ADVISER = "village_legal_adviser", "村居法律顾问"
    STAFF = "staff", "工作人员"


class ComplaintAgainst(LabelledEnum):
    """What a complaint is about."""

    AGENCY = "agency", "机构"
    PERSON = "person", "人员"
    PLATFORM_SERVICE = "platform_service", "平台服务"


class ComplaintCategory(LabelledEnum):
    """The category of a service complaint."""

    ATTITUDE = "attitude", "服务态度"
    FEES = "fees", "收费问题"
    DELAY = "delay", "办理拖延"
    MISCONDUCT = "misconduct", "违法违规"
    QUALITY_OF_ADVICE = "quality_of_advice", "服务质量"
    CONFLICT_OF_INTEREST = "conflict_of_interest", "利益冲突"
    OTHER = "other", "其他"


class ComplaintStatus(LabelledEnum):
    """Complaint lifecycle, the Open311 / FixMyStreet vocabulary adapted to this domain."""

    RECEIVED = "received", "已接收"
    ACCEPTED = "accepted", "已受理"
    NOT_ACCEPTED = "not_accepted", "不予受理"
    INVESTIGATING = "investigating", "调查中"
    ACTION_TAKEN = "action_taken", "已处理"
    RESOLVED = "resolved", "已办结"
    CLOSED = "closed", "已关闭"
    REOPENED = "reopened", "重新处理"


class Weekday(LabelledEnum):
    """Days of the week, ISO numbering order."""

    MON = "mon", "周一"
    TUE = "tue", "周二"
    WED = "wed", "周三"
    THU = "thu", "周四"
    FRI = "fri", "周五"
    SAT = "sat", "周六"
    SUN = "sun", "周日"


class ComplaintNotAcceptedReason(LabelledEnum):
    """Why a complaint was not taken on (不予受理)."""

    OUTSIDE_SCOPE = "outside_scope", "不属于投诉受理范围"
    NO_JURISDICTION = "no_jurisdiction", "不属于本机关管辖"
    DUPLICATE = "duplicate", "重复投诉"
    INSUFFICIENT_INFORMATION = "insufficient_information", "投诉事项不明确"
    IN_OTHER_PROCEEDINGS = "in_other_proceedings", "已进入诉讼、仲裁或行政复议程序"
    WITHDRAWN = "withdrawn", "投诉人撤回"
    OTHER = "other", "其他"


class ComplaintAction(LabelledEnum):
    """What was done about a complaint while it was handled."""

    APOLOGY = "apology", "赔礼道歉"
    FEE_REFUNDED = "fee_refunded", "退还费用"
    SERVICE_REDONE = "service_redone", "重新提供服务"
    STAFF_REMINDED = "staff_reminded", "批评教育"
    REFERRED_FOR_DISCIPLINE = "referred_for_discipline", "移送行业协会或立案调查"
    MEDIATED = "mediated", "调解处理"
    OTHER = "other", "其他"


class ComplaintOutcome(LabelledEnum):
    """How a complaint was resolved."""

    UPHELD = "upheld", "投诉成立"
    PARTLY_UPHELD = "partly_upheld", "投诉部分成立"
    NOT_UPHELD = "not_upheld", "投诉不成立"


class ComplaintFinding(LabelledEnum):
    """The category of what the investigation found (the finding's text stays in the province)."""

    IMPROPER_CONDUCT = "improper_conduct", "服务态度或言行不当"
    IMPROPER_FEES = "improper_fees", "违规收费"
    UNJUSTIFIED_DELAY = "unjustified_delay", "无正当理由拖延"
    PROCEDURAL_VIOLATION = "procedural_violation", "违反程序规定"
    PROFESSIONAL_ERROR = "professional_error", "业务差错"
    UNDISCLOSED_CONFLICT = "undisclosed_conflict", "未披露利益冲突"
    PRACTICE_VIOLATION = "practice_violation", "违法违规执业"
    NO_FAULT_FOUND = "no_fault_found", "未发现过错"
    INSUFFICIENT_EVIDENCE = "insufficient_evidence", "证据不足"
    OTHER = "other", "其他"


class ComplaintReopenReason(LabelledEnum):
    """Why a resolved, closed or not accepted complaint was handled again."""

    NEW_EVIDENCE = "new_evidence", "出现新证据"
    COMPLAINANT_OBJECTION = "complainant_objection", "投诉人异议"
    SUPERVISION_ORDER = "supervision_order", "上级督办"
    OTHER = "other", "其他"


class SupervisionPhase(LabelledEnum):
    """A supervised period in the handling of a complaint or a case."""

    ACCEPTANCE = "acceptance", "受理审查"
    RESOLUTION = "resolution", "调查处理"
    CALLBACK = "callback", "回访"


class EscalationLevel(LabelledEnum):
    """Who an overdue complaint is escalated to (督办)."""

    PROVINCE = "province", "省级司法行政机关督办"
    MINISTRY = "ministry", "司法部督办"
