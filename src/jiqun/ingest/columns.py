"""Column formats of the four import kinds: canonical names, accepted headers, vocabularies.

Every column has one canonical (English, snake_case) name and any number of accepted headers,
Chinese and English. ``docs/formats.md`` documents the same table; a test keeps them in sync.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    """One column of an import file."""

    name: str  # canonical name
    zh: str  # the Chinese header written in the templates
    aliases: tuple[str, ...] = ()
    required: bool = False
    kind: str = "text"  # text / number / integer / datetime / date / code / bool / list
    example: str = ""
    note: str = ""

    @property
    def headers(self) -> tuple[str, ...]:
        return (self.name, self.zh, *self.aliases)


@dataclass(frozen=True)
class Format:
    """The columns of one import kind and the groups of which at least one must be present."""

    kind: str
    columns: tuple[Column, ...]
    one_of: tuple[tuple[str, ...], ...] = field(default=())

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


C = Column

MARKETS = Format(
    "markets",
    (
        C("code", "市场编码", ("market_code", "编码"), True, "code", "ZJ-HUZ-ZLTZ"),
        C("name", "市场名称", ("market_name", "名称"), True, "text", "织里童装产业集群"),
        C("name_en", "英文名称", (), False, "text", "Zhili kids' clothing"),
        C("type", "市场类型", ("market_type", "类型"), True, "code", "产业集群",
          "产业集群 / 专业市场 / 电商园区 / 直播基地 / 淘宝村"),
        C("industry", "行业", ("主营行业",), True, "text", "童装"),
        C("org_unit", "机构编码", ("org_unit_code", "所属机构"), True, "code", "ZJ-HUZ-WX"),
        C("adcode", "行政区划代码", ("区划代码",), False, "code", "330502"),
        C("province", "省", ("省份", "所在省"), False, "text", "浙江省"),
        C("city", "市", ("城市", "地市", "所在市"), False, "text", "湖州市"),
        C("county", "区县", ("县区", "所在区县"), False, "text", "吴兴区"),
        C("address", "地址", ("详细地址",), False, "text", "湖州市吴兴区织里镇"),
        C("lon", "经度", ("longitude", "lng"), False, "number", "120.26"),
        C("lat", "纬度", ("latitude",), False, "number", "30.84"),
        C("tier", "运营等级", ("等级", "市场等级"), False, "text", "A", "A / B / C"),
        C("key_area", "重点产粮区", ("重点区域", "key"), False, "bool", "是", "是/否, yes/no"),
        C("yearly_revenue_target", "年收入目标", ("年度收入目标", "revenue_target"), False,
          "number", "10000000", "yuan"),
        C("daily_volume_estimate", "市场日均总量", ("日均总量", "market_daily_volume"), False,
          "number", "300000", "parcels/day, all carriers"),
        C("estimate_date", "估算日期", ("estimate_valid_from", "估计日期"), False, "date",
          "2023-05-01", "date the estimate holds from; default: today, when it changed"),
    ),
    one_of=(),
)

CUSTOMERS = Format(
    "customers",
    (
        C("code", "客户编码", ("customer_code", "编码"), True, "code", "ZL-000001"),
        C("name", "客户名称", ("customer_name", "商家名称", "名称"), True, "text", "织里小萌童装店"),
        C("contact", "联系人", (), False, "text", "王丽"),
        C("phone", "电话", ("联系电话", "手机"), False, "text", "13800000001"),
        C("address", "地址", ("详细地址",), False, "text", "湖州市吴兴区织里镇珍贝路18号"),
        C("market", "市场编码", ("market_code", "所属市场"), False, "code", "ZJ-HUZ-ZLTZ"),
        C("grid", "网格编码", ("grid_code", "所属网格"), False, "code", "ZL-G01"),
        C("org_unit", "机构编码", ("org_unit_code", "所属机构"), False, "code", "ZJ-HUZ-WX-ZL",
          "default: the market's org unit"),
        C("platforms", "平台", ("platform", "电商平台"), False, "list", "淘系、直播",
          "淘系 / 拼系 / 直播 / 其他, separated by 、 , ; /"),
        C("categories", "品类", ("category", "主营品类"), False, "list", "童装"),
        C("est_daily_volume", "日均件量", ("预估日均件量", "daily_volume"), False, "number", "800"),
        C("lifecycle_stage", "阶段", ("客户阶段", "lifecycle", "stage"), False, "code", "合作",
          "建档 / 蓄客 / 试寄 / 合作 / 提升 / VIP / 流失"),
        C("tier", "客户等级", ("等级",), False, "code", "二级", "特级 / 一级 / 二级 / 三级 / 小微"),
        C("owner", "客户经理", ("owner_username", "负责人"), False, "code", "zl-marketer",
          "username"),
        C("vip", "VIP", ("是否VIP", "大客户"), False, "bool", "否", "是/否, yes/no"),
    ),
    one_of=(("market", "org_unit"),),
)

WAYBILLS = Format(
    "waybills",
    (
        C("waybill_no", "运单号", ("邮件号", "waybill"), True, "code", "1180000000001"),
        C("customer_code", "客户编码", ("customer", "客户"), False, "code", "ZL-000001"),
        C("outlet_code", "网点编码", ("outlet", "揽收网点", "facility_code"), False, "code",
          "ZL-OUTLET"),
        C("product", "产品", ("产品类型",), True, "code", "快包", "特快 / 快包 / 标快"),
        C("platform", "平台", ("电商平台",), False, "code", "淘系", "淘系 / 拼系 / 直播 / 其他"),
        C("ship_time", "寄件时间", ("收寄时间", "揽收时间"), True, "datetime", "2024-06-18 09:30:00"),
        C("dest_province", "目的省", ("寄达省", "目的省份"), False, "text", "广东省"),
        C("dest_city", "目的市", ("寄达市", "目的城市"), False, "text", "广州市"),
        C("dest_county", "目的区县", ("寄达区县", "目的区"), False, "text", "天河区"),
        C("dest_address", "收件地址", ("收件人地址", "address"), False, "text",
          "广东省广州市天河区体育西路1号", "used when province/city/county are empty"),
        C("weight_kg", "重量", ("重量kg", "重量(kg)", "weight"), True, "number", "0.45", "kg"),
        C("fee", "资费", ("运费", "费用"), True, "number", "4.5", "yuan"),
        C("line_code", "专线编码", ("line", "专线"), False, "code", "HUZ-GZ-01"),
        C("status", "状态", ("运单状态",), False, "code", "已妥投",
          "已创建 / 运输中 / 已妥投 / 异常 / 退回"),
        C("delivered_time", "妥投时间", ("签收时间",), False, "datetime", "2024-06-20 15:10:00"),
    ),
    one_of=(("customer_code", "outlet_code"), ("dest_province", "dest_city", "dest_address")),
)

EVENTS = Format(
    "events",
    (
        C("waybill_no", "运单号", ("邮件号", "waybill"), True, "code", "1180000000001"),
        C("event_time", "时间", ("事件时间", "操作时间", "time"), True, "datetime",
          "2024-06-18 18:00:00"),
        C("event_code", "事件", ("事件类型", "操作", "event"), True, "code", "揽收",
          "揽收 / 发出 / 到达 / 派送 / 投递失败 / 入柜 / 妥投 / 异常 / 退回"),
        C("location", "地点", ("位置", "所在地"), False, "text", "湖州市吴兴区",
          "a place name or adcode"),
        C("facility_code", "网点编码", ("facility", "outlet_code", "处理场所"), False, "code",
          "ZL-OUTLET"),
        C("note", "备注", ("说明",), False, "text", ""),
    ),
)

RATE_CARDS = Format(
    "rate_cards",
    (
        C("code", "价格表编码", ("card_code", "卡号"), True, "code", "HA-SG-PARCEL",
          "one row per line; rows of one code and start date are one version"),
        C("name", "价格表名称", ("card_name",), False, "text", "稍岗快包价格表"),
        C("origin", "适用范围", ("origin", "适用"), True, "code", "市场",
          "市场 / 区县 / 省 / 客户, market / county / province / customer"),
        C("market", "市场编码", ("market_code",), False, "code", "HA-SG", "origin 市场"),
        C("org_unit", "机构编码", ("org_unit_code",), False, "code", "HA-SQ-YC",
          "origin 区县 / 省"),
        C("customer", "客户编码", ("customer_code",), False, "code", "HA-SG-00001",
          "origin 客户"),
        C("product", "产品", ("产品类型",), True, "code", "快包", "特快 / 快包 / 标快"),
        C("valid_from", "生效日期", ("start_date", "起始日期"), True, "date", "2026-01-01"),
        C("zone", "区域", ("目的区域", "zone_kind"), True, "code", "省内",
          "省内 / 邻省 / 跨省 / 偏远, same / neighbour / far / remote"),
        C("weight_from_kg", "起始重量", ("重量下限",), False, "number", "0",
          "kg, exclusive; default 0"),
        C("weight_to_kg", "截止重量", ("重量上限",), True, "number", "60", "kg, inclusive"),
        C("first_weight_kg", "首重", ("首重kg",), False, "number", "1", "kg; default 1"),
        C("first_price", "首重价格", ("首重资费",), True, "number", "2.2", "yuan"),
        C("extra_per_kg", "续重单价", ("续重资费",), False, "number", "0.45",
          "yuan per further kg or part of one"),
        C("volumetric_divisor", "抛重系数", ("体积重系数", "divisor"), False, "number", "6000",
          "L×W×H cm³ ÷ divisor; default 6000"),
        C("remote_surcharge", "偏远附加费", ("remote_amount",), False, "number", "3",
          "yuan per parcel, applied first"),
        C("remote_adcodes", "偏远地区", ("remote_places",), False, "list", "650000、540000",
          "adcodes"),
        C("peak_surcharge_pct", "旺季附加比例", ("peak_percent",), False, "number", "10",
          "percent, applied after the remote surcharge"),
        C("peak_from", "旺季开始", ("peak_start",), False, "date", "2026-11-01"),
        C("peak_to", "旺季结束", ("peak_end",), False, "date", "2026-11-15"),
    ),
)

FORMATS: dict[str, Format] = {f.kind: f for f in (MARKETS, CUSTOMERS, WAYBILLS, EVENTS,
                                                   RATE_CARDS)}
KINDS = tuple(FORMATS)


# Vocabularies: accepted spellings (Chinese and English, case-insensitive) → stored value.
def _vocab(pairs: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {alias.lower(): value for value, aliases in pairs.items() for alias in (value, *aliases)}


def common_spellings(vocab: dict[str, str]) -> dict[str, str]:
    """``vocab`` with every word also in upper case and capitalised ("EMS", "Taobao", "TMALL"):
    what a lookup of the cell as it is spelt (no ``lower`` of every cell) must find."""
    return {spelt: value for word, value in vocab.items()
            for spelt in (word, word.upper(), word.capitalize(), word.title())}


PRODUCTS = _vocab({
    "express": ("特快", "特快专递", "ems", "标准特快"),
    "parcel": ("快包", "快递包裹", "电商快包", "包裹"),
    "standard": ("标快", "标准快递", "普包", "普通包裹"),
})
PLATFORMS = _vocab({
    "taobao": ("淘系", "淘宝", "天猫", "tmall"),
    "pdd": ("拼系", "拼多多", "pinduoduo"),
    "live": ("直播", "抖音", "快手", "douyin", "kuaishou", "livestream"),
    "other": ("其他", "其它"),
})
WAYBILL_STATUSES = _vocab({
    "created": ("已创建", "创建", "已下单"),
    "in_transit": ("运输中", "在途", "已揽收", "揽收"),
    "delivered": ("已妥投", "妥投", "已签收", "签收"),
    "exception": ("异常", "问题件"),
    "returned": ("退回", "已退回", "退件"),
})
EVENT_CODES = _vocab({
    "picked_up": ("揽收", "已揽收", "收寄"),
    "departed": ("发出", "发运", "已发出"),
    "arrived": ("到达", "已到达"),
    "out_for_delivery": ("派送", "派件", "投递"),
    "delivered": ("妥投", "签收", "已妥投", "已签收"),
    "failed_attempt": ("投递失败", "派送失败", "未妥投"),
    "in_locker": ("入柜", "已入柜", "驿站", "入驿站", "待取件"),
    "exception": ("异常", "问题件"),
    "returned": ("退回", "已退回", "退件"),
})
MARKET_TYPES = _vocab({
    "industrial_cluster": ("产业集群", "产业带", "industrial cluster"),
    "wholesale_market": ("专业市场", "批发市场", "批发零售专业市场", "wholesale market"),
    "ecommerce_park": ("电商园区", "电商产业园", "ecommerce park", "e-commerce park"),
    "livestream_base": ("直播基地", "livestream base"),
    "taobao_village": ("淘宝村", "taobao village"),
})
LIFECYCLE_STAGES = _vocab({
    "archived": ("建档",),
    "nurturing": ("蓄客",),
    "trial": ("试寄",),
    "cooperating": ("合作", "合作中"),
    "growing": ("提升",),
    "vip": ("大客户",),
    "churned": ("流失",),
})
CUSTOMER_TIERS = _vocab({
    "special": ("特级",),
    "first": ("一级",),
    "second": ("二级",),
    "third": ("三级",),
    "micro": ("小微",),
})
BOOLEANS = {
    **{k: True for k in ("是", "y", "yes", "true", "1", "t", "√")},
    **{k: False for k in ("否", "n", "no", "false", "0", "f", "")},
}
LIST_SEPARATORS = "、,，;；/|"
