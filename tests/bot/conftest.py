"""A small hand-written shop FAQ, so the bot's tests need neither a database nor the evaluation data."""

from __future__ import annotations

import pytest

from kefu.bot import KbDoc, Matcher, Thresholds

SHOP_FAQ = (
    KbDoc("return", "怎么退货", ("我想退货", "退货流程是什么", "买的东西不想要了怎么退", "如何申请退货")),
    KbDoc("invoice", "怎么开发票", ("能开发票吗", "发票在哪里申请", "可以开增值税专用发票吗", "如何开具发票")),
    KbDoc("delivery", "快递几天能到", ("多久能收到货", "发货后几天到", "物流要多长时间", "什么时候能送到")),
    KbDoc("cod", "支持货到付款吗", ("可以到付吗", "能货到付款吗", "收货时再付钱行不行")),
    KbDoc("address", "怎么修改收货地址", ("地址填错了怎么改", "下单后能改地址吗", "收货地址写错了")),
    KbDoc("coupon", "优惠券怎么用", ("优惠券在哪里使用", "领的券为什么用不了", "怎么使用优惠券")),
    KbDoc("password", "忘记密码怎么办", ("密码忘了", "怎么找回密码", "登录密码想不起来了")),
    KbDoc("warranty", "保修期多久", ("质保多长时间", "坏了能保修吗", "保修怎么申请")),
)

# Fixed thresholds keep these tests about matching, not about calibration on eight entries.
FIXED = Thresholds(answer=0.6, margin=0.1, suggest=0.2)


@pytest.fixture
def matcher() -> Matcher:
    return Matcher(SHOP_FAQ, thresholds=FIXED)
