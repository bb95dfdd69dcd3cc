"""The demo province's places and the seed article's figures, as plain data.

Every volume here is a *real* daily figure (parcels per day, all of it "now", i.e. on the day the
history ends); the generator multiplies it by the scale's volume factor. Sources: the seed article
(``shared/seed/000_924ce877ba800bb1.txt``) where it gives a figure, plausible guesses otherwise:

* Shangqiu (商丘): three clusters (闫集童装, 稍岗五金工量具, 夏邑淘宝村), share "over 20%";
  direct lines from Yucheng (虞城) to Guangzhou 24k/day, Nanjing and Hangzhou 12k/day each.
* Zhili (织里) kids' clothing: ~300k parcels/day (all carriers), our share 21.35%, +26% YoY.
* Guangdong: 6 key "production areas" (产粮区) × one 10M-yuan and two 5M-yuan markets; our daily
  volume there is the revenue target / 365 / ~2 yuan a parcel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jiqun.store.models import MarketType

DEMO_PASSWORD = "jiqun-demo"

# (username, role, org unit code): the same on every build.
DEMO_LOGINS: list[tuple[str, str, str]] = [
    ("demo-hq", "hq_business", "HQ"),
    ("demo-province", "provincial_manager", "HA"),
    ("demo-city", "city_manager", "HA-SQ"),
    ("demo-marketer", "marketer", "HA-SQ-SY-YJ"),
]

COMPETITORS = ("中通", "圆通", "韵达", "申通", "极兔", "顺丰")
# Typical split of the non-postal market among named competitors (before per-market noise).
COMPETITOR_WEIGHTS = (0.27, 0.22, 0.17, 0.11, 0.15, 0.03)
OTHER_CARRIERS_SHARE = 0.05  # small carriers nobody names


@dataclass(frozen=True)
class Direction:
    """A strong flow direction of a market: a share of its parcels to one province, of which
    ``city_share`` go to the named city (the rest spread over that province by gravity)."""

    province: str  # adcode
    city: str  # adcode
    share: float
    city_share: float


@dataclass(frozen=True)
class MarketSpec:
    code: str
    name: str
    name_en: str
    type: MarketType
    industry: str
    outlet_code: str  # org unit code of the outlet serving the market
    market_volume: float  # all carriers, parcels/day now (real)
    our_share: float  # our share now
    growth: float  # yearly growth of the whole market
    merchants: int  # merchants in the archive (real count)
    grids: int
    weight_median_kg: float
    weight_sigma: float = 0.55
    express_share: float = 0.04  # 特快 share; high for time-sensitive goods (P2)
    platforms: tuple[float, float, float] = (0.45, 0.35, 0.20)  # taobao / pdd / live
    categories: tuple[str, ...] = ()
    tier: str = "B"
    key_area: bool = False
    yearly_revenue_target: float | None = None
    directions: tuple[Direction, ...] = ()
    competitor_bias: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class OrgSpec:
    code: str
    name: str
    name_en: str
    adcode: str
    children: tuple[OrgSpec, ...] = ()


def _outlet(code: str, name: str, name_en: str, adcode: str) -> OrgSpec:
    return OrgSpec(code, name, name_en, adcode)


# HQ → province → city → county → outlet. Codes are stable across builds.
ORG_TREE = OrgSpec("HQ", "集团寄递事业部", "Group Parcel & Express Division", "100000", (
    OrgSpec("HA", "河南省分公司", "Henan Branch", "410000", (
        OrgSpec("HA-SQ", "商丘市分公司", "Shangqiu", "411400", (
            OrgSpec("HA-SQ-SY", "睢阳区分公司", "Suiyang", "411403", (
                _outlet("HA-SQ-SY-YJ", "闫集揽投部", "Yanji outlet", "411403"),
            )),
            OrgSpec("HA-SQ-YC", "虞城县分公司", "Yucheng", "411425", (
                _outlet("HA-SQ-YC-SG", "稍岗揽投部", "Shaogang outlet", "411425"),
            )),
            OrgSpec("HA-SQ-XY", "夏邑县分公司", "Xiayi", "411426", (
                _outlet("HA-SQ-XY-CG", "夏邑城关揽投部", "Xiayi town outlet", "411426"),
            )),
        )),
        OrgSpec("HA-XC", "许昌市分公司", "Xuchang", "411000", (
            OrgSpec("HA-XC-WD", "魏都区分公司", "Weidu", "411002", (
                _outlet("HA-XC-WD-FZ", "发制品园区揽投部", "Hair products park outlet", "411002"),
            )),
        )),
    )),
    OrgSpec("ZJ", "浙江省分公司", "Zhejiang Branch", "330000", (
        OrgSpec("ZJ-HUZ", "湖州市分公司", "Huzhou", "330500", (
            OrgSpec("ZJ-HUZ-WX", "吴兴区分公司", "Wuxing", "330502", (
                _outlet("ZJ-HUZ-WX-ZL", "织里电商经营部", "Zhili e-commerce unit", "330502"),
            )),
        )),
        OrgSpec("ZJ-JH", "金华市分公司", "Jinhua", "330700", (
            OrgSpec("ZJ-JH-YW", "义乌市分公司", "Yiwu", "330782", (
                _outlet("ZJ-JH-YW-SM", "商贸城揽投部", "Trade City outlet", "330782"),
            )),
        )),
    )),
    OrgSpec("GD", "广东省分公司", "Guangdong Branch", "440000", (
        OrgSpec("GD-GZ", "广州市分公司", "Guangzhou", "440100", (
            OrgSpec("GD-GZ-BY", "白云区分公司", "Baiyun", "440111", (
                _outlet("GD-GZ-BY-PJ", "白云皮具揽投部", "Baiyun leather outlet", "440111"),)),
            OrgSpec("GD-GZ-ZC", "增城区分公司", "Zengcheng", "440118", (
                _outlet("GD-GZ-ZC-XT", "新塘揽投部", "Xintang outlet", "440118"),)),
            OrgSpec("GD-GZ-PY", "番禺区分公司", "Panyu", "440113", (
                _outlet("GD-GZ-PY-ZB", "番禺珠宝揽投部", "Panyu jewellery outlet", "440113"),)),
        )),
        OrgSpec("GD-SZ", "深圳市分公司", "Shenzhen", "440300", (
            OrgSpec("GD-SZ-FT", "福田区分公司", "Futian", "440304", (
                _outlet("GD-SZ-FT-HQ", "华强北揽投部", "Huaqiangbei outlet", "440304"),)),
            OrgSpec("GD-SZ-LG", "龙岗区分公司", "Longgang", "440307", (
                _outlet("GD-SZ-LG-HG", "横岗揽投部", "Henggang outlet", "440307"),)),
            OrgSpec("GD-SZ-BA", "宝安区分公司", "Bao'an", "440306", (
                _outlet("GD-SZ-BA-DL", "大浪揽投部", "Dalang outlet", "440306"),)),
        )),
        OrgSpec("GD-DG", "东莞市分公司", "Dongguan", "441900", (
            OrgSpec("GD-DG-HM", "虎门分公司", "Humen", "441900", (
                _outlet("GD-DG-HM-FZ", "虎门服装揽投部", "Humen garment outlet", "441900"),)),
            OrgSpec("GD-DG-DL", "大朗分公司", "Dalang (Dongguan)", "441900", (
                _outlet("GD-DG-DL-MZ", "大朗毛织揽投部", "Dalang knitwear outlet", "441900"),)),
            OrgSpec("GD-DG-HJ", "厚街分公司", "Houjie", "441900", (
                _outlet("GD-DG-HJ-XY", "厚街鞋业揽投部", "Houjie shoes outlet", "441900"),)),
        )),
        OrgSpec("GD-FS", "佛山市分公司", "Foshan", "440600", (
            OrgSpec("GD-FS-SD", "顺德区分公司", "Shunde", "440606", (
                _outlet("GD-FS-SD-LC", "乐从揽投部", "Lecong outlet", "440606"),)),
            OrgSpec("GD-FS-CC", "禅城区分公司", "Chancheng", "440604", (
                _outlet("GD-FS-CC-ZC", "张槎揽投部", "Zhangcha outlet", "440604"),)),
            OrgSpec("GD-FS-NH", "南海区分公司", "Nanhai", "440605", (
                _outlet("GD-FS-NH-PZ", "平洲揽投部", "Pingzhou outlet", "440605"),)),
        )),
        OrgSpec("GD-JY", "揭阳市分公司", "Jieyang", "445200", (
            OrgSpec("GD-JY-PN", "普宁市分公司", "Puning", "445281", (
                _outlet("GD-JY-PN-FZ", "普宁服装揽投部", "Puning garment outlet", "445281"),)),
            OrgSpec("GD-JY-JD", "揭东区分公司", "Jiedong", "445203", (
                _outlet("GD-JY-JD-JP", "军埔揽投部", "Junpu outlet", "445203"),
                _outlet("GD-JY-JD-YM", "阳美揽投部", "Yangmei outlet", "445203"),
            )),
        )),
        OrgSpec("GD-ST", "汕头市分公司", "Shantou", "440500", (
            OrgSpec("GD-ST-CH", "澄海区分公司", "Chenghai", "440515", (
                _outlet("GD-ST-CH-WJ", "澄海玩具揽投部", "Chenghai toys outlet", "440515"),)),
            OrgSpec("GD-ST-CY", "潮阳区分公司", "Chaoyang", "440513", (
                _outlet("GD-ST-CY-GR", "谷饶揽投部", "Gurao outlet", "440513"),)),
            OrgSpec("GD-ST-CN", "潮南区分公司", "Chaonan", "440514", (
                _outlet("GD-ST-CN-XS", "峡山揽投部", "Xiashan outlet", "440514"),)),
        )),
    )),
))

# Yucheng's hardware goes out on three direct lines (一干直发专线); seed: Guangzhou 24k/day,
# Nanjing and Hangzhou 12k/day each, out of ~60k/day of ours in Shaogang.
SHAOGANG_DIRECTIONS = (
    Direction("440000", "440100", 0.40, 0.55),
    Direction("320000", "320100", 0.20, 0.60),
    Direction("330000", "330100", 0.20, 0.60),
)

_GD_YUAN_PER_PARCEL = 2.0  # seed: 1.95亿 revenue on 1亿 parcels


def _gd(code: str, name: str, name_en: str, industry: str, outlet: str, target_m: float,
        share: float, weight: float, **kw) -> MarketSpec:
    """A Guangdong key market: our volume follows from its yearly revenue target."""
    ours = target_m * 1e6 / 365 / _GD_YUAN_PER_PARCEL
    return MarketSpec(
        code, name, name_en, kw.pop("type", MarketType.INDUSTRIAL_CLUSTER), industry, outlet,
        market_volume=round(ours / share), our_share=share, growth=0.09,
        merchants=120 if target_m >= 10 else 70, grids=1, weight_median_kg=weight,
        tier="A" if target_m >= 10 else "B", key_area=True, yearly_revenue_target=target_m * 1e6,
        **kw,
    )


MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec("HA-YJ", "闫集童装产业集群", "Yanji kids' clothing cluster",
               MarketType.INDUSTRIAL_CLUSTER, "童装", "HA-SQ-SY-YJ", 110_000, 0.22, 0.08, 350, 2,
               0.45, categories=("童装", "童鞋", "亲子装"), tier="A", key_area=True,
               yearly_revenue_target=18e6),
    MarketSpec("HA-SG", "稍岗五金工量具产业集群", "Shaogang hardware tools cluster",
               MarketType.INDUSTRIAL_CLUSTER, "五金工量具", "HA-SQ-YC-SG", 260_000, 0.23, 0.08,
               400, 2, 1.6, weight_sigma=0.7, platforms=(0.40, 0.50, 0.10),
               categories=("钢卷尺", "扳手", "螺丝刀", "电动工具"), tier="A", key_area=True,
               yearly_revenue_target=40e6, directions=SHAOGANG_DIRECTIONS),
    MarketSpec("HA-XY", "夏邑淘宝村", "Xiayi Taobao villages", MarketType.TAOBAO_VILLAGE,
               "家居百货", "HA-SQ-XY-CG", 60_000, 0.21, 0.10, 250, 1, 0.8,
               platforms=(0.55, 0.35, 0.10), categories=("家居", "百货", "毛绒玩具"), tier="A",
               key_area=True, yearly_revenue_target=8e6),
    MarketSpec("HA-XC", "许昌发制品产业集群", "Xuchang hair products cluster",
               MarketType.INDUSTRIAL_CLUSTER, "发制品", "HA-XC-WD-FZ", 45_000, 0.12, 0.07, 200,
               1, 0.35, express_share=0.08, platforms=(0.40, 0.20, 0.40),
               categories=("假发", "发套", "接发"), tier="B", yearly_revenue_target=5e6),
    MarketSpec("ZJ-ZL", "织里童装产业集群", "Zhili kids' clothing cluster",
               MarketType.INDUSTRIAL_CLUSTER, "童装", "ZJ-HUZ-WX-ZL", 300_000, 0.2135, 0.10,
               800, 3, 0.45, platforms=(0.45, 0.30, 0.25), categories=("童装", "童鞋", "亲子装"),
               tier="A", key_area=True, yearly_revenue_target=60e6,
               competitor_bias={"极兔": 1.3, "中通": 1.1}),
    MarketSpec("ZJ-YW", "义乌商贸城饰品市场", "Yiwu Trade City accessories market",
               MarketType.WHOLESALE_MARKET, "饰品", "ZJ-JH-YW-SM", 400_000, 0.06, 0.08, 400, 2,
               0.3, platforms=(0.35, 0.45, 0.20), categories=("饰品", "发饰", "小商品"), tier="B"),
    _gd("GD-GZ-BY", "白云皮具箱包市场", "Baiyun leather goods market", "皮具箱包", "GD-GZ-BY-PJ",
        10, 0.10, 1.2, type=MarketType.WHOLESALE_MARKET, categories=("箱包", "皮具")),
    _gd("GD-GZ-XT", "新塘牛仔服装产业集群", "Xintang denim cluster", "牛仔服装", "GD-GZ-ZC-XT",
        5, 0.09, 0.7, categories=("牛仔裤", "牛仔外套")),
    _gd("GD-GZ-PY", "番禺珠宝首饰产业集群", "Panyu jewellery cluster", "珠宝首饰", "GD-GZ-PY-ZB",
        5, 0.12, 0.2, express_share=0.35, categories=("珠宝", "首饰")),
    _gd("GD-SZ-HQ", "华强北数码市场", "Huaqiangbei electronics market", "数码产品",
        "GD-SZ-FT-HQ", 10, 0.08, 0.5, type=MarketType.WHOLESALE_MARKET, express_share=0.15,
        categories=("手机配件", "数码")),
    _gd("GD-SZ-HG", "横岗眼镜产业集群", "Henggang eyewear cluster", "眼镜", "GD-SZ-LG-HG", 5,
        0.14, 0.25, express_share=0.60, categories=("眼镜", "镜片")),
    _gd("GD-SZ-DL", "大浪时尚服装产业集群", "Dalang fashion cluster", "时尚服饰", "GD-SZ-BA-DL",
        5, 0.09, 0.5, categories=("女装", "时尚服饰")),
    _gd("GD-DG-HM", "虎门服装电商园", "Humen garment e-commerce park", "服装", "GD-DG-HM-FZ", 10,
        0.10, 0.5, type=MarketType.ECOMMERCE_PARK, categories=("女装", "童装")),
    _gd("GD-DG-DL", "大朗毛织产业集群", "Dalang knitwear cluster", "毛织", "GD-DG-DL-MZ", 5,
        0.11, 0.6, categories=("毛衣", "针织")),
    _gd("GD-DG-HJ", "厚街鞋业市场", "Houjie shoes market", "鞋业", "GD-DG-HJ-XY", 5, 0.10, 1.1,
        type=MarketType.WHOLESALE_MARKET, categories=("女鞋", "运动鞋")),
    _gd("GD-FS-LC", "乐从家具市场", "Lecong furniture market", "家具", "GD-FS-SD-LC", 10, 0.12,
        4.0, weight_sigma=0.8, type=MarketType.WHOLESALE_MARKET, categories=("家具", "软装")),
    _gd("GD-FS-ZC", "张槎针织产业集群", "Zhangcha knitting cluster", "针织服装", "GD-FS-CC-ZC",
        5, 0.09, 0.5, categories=("针织", "内衣")),
    _gd("GD-FS-PZ", "平洲玉器市场", "Pingzhou jade market", "玉器", "GD-FS-NH-PZ", 5, 0.13, 0.3,
        type=MarketType.LIVESTREAM_BASE, express_share=0.30, platforms=(0.25, 0.10, 0.65),
        categories=("翡翠", "玉器")),
    _gd("GD-JY-PN", "普宁服装直播基地", "Puning garment livestream base", "服装", "GD-JY-PN-FZ",
        10, 0.10, 0.5, type=MarketType.LIVESTREAM_BASE, platforms=(0.25, 0.30, 0.45),
        categories=("女装", "内衣")),
    _gd("GD-JY-JP", "军埔电商村", "Junpu e-commerce village", "电商综合", "GD-JY-JD-JP", 5, 0.10,
        0.6, type=MarketType.TAOBAO_VILLAGE, categories=("食品", "服装")),
    _gd("GD-JY-YM", "阳美玉器市场", "Yangmei jade market", "玉器", "GD-JY-JD-YM", 5, 0.12, 0.3,
        type=MarketType.LIVESTREAM_BASE, express_share=0.30, platforms=(0.25, 0.10, 0.65),
        categories=("翡翠", "玉器")),
    _gd("GD-ST-CH", "澄海玩具产业集群", "Chenghai toys cluster", "玩具", "GD-ST-CH-WJ", 10, 0.09,
        0.9, categories=("玩具", "模型")),
    _gd("GD-ST-GR", "谷饶内衣产业集群", "Gurao underwear cluster", "内衣", "GD-ST-CY-GR", 5, 0.10,
        0.3, categories=("内衣", "文胸")),
    _gd("GD-ST-XS", "峡山家居服产业集群", "Xiashan homewear cluster", "家居服", "GD-ST-CN-XS", 5,
        0.10, 0.5, categories=("家居服", "睡衣")),
)

# Destination cities for the gravity model: adcode → population in millions (7th census,
# 2020, rounded; city proper incl. counties). A parcel's pull grows with the population.
CITY_POPULATION: dict[str, float] = {
    "110100": 21.9, "310100": 24.9, "120100": 13.9, "500100": 32.1, "440100": 18.7,
    "440300": 17.6, "510100": 20.9, "330100": 12.2, "420100": 12.3, "610100": 13.0,
    "410100": 12.6, "320100": 9.3, "320500": 12.7, "441900": 10.5, "440600": 9.5,
    "430100": 10.0, "210100": 9.1, "370200": 10.1, "370100": 9.2, "340100": 9.4,
    "330200": 9.4, "530100": 8.5, "230100": 10.0, "220100": 9.1, "130100": 11.2,
    "350100": 8.3, "350200": 5.2, "450100": 8.7, "360100": 6.3, "520100": 6.0,
    "140100": 5.3, "210200": 7.5, "320200": 7.5, "330300": 9.6, "350500": 8.8,
    "320300": 9.1, "371300": 11.0, "370700": 9.4, "130600": 9.2, "411300": 9.7,
    "411400": 7.8, "411600": 9.0, "410300": 7.1, "650100": 4.1, "620100": 4.4,
    "150100": 3.4, "640100": 2.9, "630100": 2.5, "540100": 0.9, "460100": 2.9,
    "441300": 6.0, "442000": 4.4, "440500": 5.5, "445200": 5.6, "440800": 7.0,
    "320400": 5.3, "320600": 7.7, "330700": 7.1, "330400": 5.4, "330600": 5.3,
    "331000": 6.6, "321000": 4.6, "370600": 7.1, "130200": 7.7, "130400": 9.4,
    "360700": 9.0, "450200": 4.2, "510700": 4.9, "411000": 4.4, "410700": 6.3,
}

# Gravity model: pull = population × (road km + offset)^-decay; e-commerce parcels travel far,
# so the decay is mild; a same-province bonus reflects regional sales.
GRAVITY_DECAY = 0.6
GRAVITY_OFFSET_KM = 150.0
SAME_PROVINCE_BONUS = 1.8
