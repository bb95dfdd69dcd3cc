"""Believable Chinese names for staff, contacts and shops, drawn from the demo's generator."""

from __future__ import annotations

import numpy as np

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任沈姚卢")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力鹏斌宇浩凯健俊帆晨欣悦琳雪梅")
SHOP_WORDS = list("乐贝童星悦鑫盛华美佳源汇通达顺兴隆宏锦创优品尚诚信和恒泰丰瑞祥福博雅")
SHOP_SUFFIX = ("服饰", "商贸", "电子商务", "贸易", "工贸", "网店", "实业")


def person(rng: np.random.Generator) -> str:
    surname = SURNAMES[rng.integers(len(SURNAMES))]
    given = "".join(GIVEN[i] for i in rng.integers(len(GIVEN), size=rng.integers(1, 3)))
    return surname + given


def shop(rng: np.random.Generator, place: str, industry: str) -> str:
    words = "".join(SHOP_WORDS[i] for i in rng.integers(len(SHOP_WORDS), size=2))
    kind = SHOP_SUFFIX[rng.integers(len(SHOP_SUFFIX))]
    legal = "有限公司" if rng.random() < 0.5 else "店"
    return f"{place}{words}{industry if legal == '店' else kind}{legal}"


def phone(rng: np.random.Generator) -> str:
    return f"1{rng.choice([3, 5, 7, 8, 9])}{rng.integers(0, 10**9):09d}"
