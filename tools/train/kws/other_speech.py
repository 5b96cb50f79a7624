"""Held-out speech with no trigger word in it, besides RAVDESS + TESS and
the WUW callers: every trigger-word event there is a false accept.

* EmoSpeech (Indian English and Hindi command words, crowd-recorded on
  phones, CC BY-NC-SA 4.0; never trained on). Clips whose word is a keyword
  (yes, no) are left out.
* The held-out speakers' other words of Speech Commands and DSPSpeech-20
  (English and Mandarin words, none a keyword).
* Synthetic neutral Mandarin sentences that no training voice spoke and no
  training text holds, from the held-out voices (espeak-ng variants and
  Kokoro's jf_nezumi) at many rates: there is no real Mandarin speech in
  the data.

Each is joined into ~60 s streams through random phone lines, as the
RAVDESS + TESS false-accept corpus is.
"""
import numpy as np

from anger.data import load, read_manifest

from . import evaluate, synth
from .vocab import UNKNOWN, WORDS

MANDARIN_HELD_OUT_SENTENCES = [
    "你好，我想问一下我的信用卡账单", "请帮我查一下上周的转账记录", "我的手机号码换了，需要更新",
    "我明天下午可以去营业厅吗", "这个月的利息怎么还没有到", "我想把钱存成定期",
    "请问外币兑换要带什么证件", "我在网上银行看不到我的余额", "我刚才收到了一条奇怪的短信",
    "能不能把我的账单寄到新地址", "我想了解一下房贷的利率", "我的卡在取款机里取不出来了",
    "请问附近有没有自助银行", "我想给我儿子开一个账户", "网上转账的限额是多少",
    "我出国旅行，卡能在国外用吗", "我想关掉短信通知", "这个手续费是怎么算的",
    "我没有收到验证码", "请你慢一点说，我记一下", "我的工资什么时候到账",
    "我想预约下周的业务办理", "你们的手机应用怎么下载", "我的密码输错了好几次",
    "请问贷款需要准备哪些材料", "我想知道积分可以换什么", "我的地址写错了，帮我改一下",
    "上午十点以后我都有空", "麻烦你再说一遍", "好的，我明白了，谢谢你",
    "我在超市刷卡没有成功", "我想办一张借记卡", "请问公司账户怎么开",
    "我家里的网络有点慢", "刚才电话断了，我又打过来了", "我想查一下基金的收益",
    "我的孩子下个月要交学费", "请帮我确认一下这笔付款", "我想取消自动扣款",
    "这个周末你们营业吗",
]
ESPEAK_PER_SENTENCE = 3
KOKORO_PER_SENTENCE = 2
NO_KEYWORD_EMOSPEECH = {"yes", "no"}


def emospeech_clips(data_dir):
    return [c for c in read_manifest(data_dir, {"emospeech"})
            if c.path.name.split("-")[0] not in NO_KEYWORD_EMOSPEECH]


def mandarin_sentences(rng, cache_dir):
    """Held-out voices speaking MANDARIN_HELD_OUT_SENTENCES, trimmed."""
    espeak = synth.espeak_voices("cmn", True)
    requests = []
    for text in MANDARIN_HELD_OUT_SENTENCES:
        requests += synth.random_requests(rng, text, espeak, ESPEAK_PER_SENTENCE)
        requests += synth.neural_requests(rng, text, "kokoro", KOKORO_PER_SENTENCE, True)
    return [a for a in synth.synthesise_all(requests, cache_dir) if len(a) > 400]


def corpora(data_dir, held_out, cache_dir, rng):
    """{name: (streams, what it is)} of the held-out speech with no trigger word."""
    words = [r.audio for r in held_out if r.label == UNKNOWN and r.source in ("speech_commands", "dspspeech20")]
    emospeech = [load(c.path) for c in emospeech_clips(data_dir)]
    return {
        "EmoSpeech": (evaluate.joined_streams(emospeech, rng),
                      "real, Indian English and Hindi command words, phones and web recorders"),
        "held-out words": (evaluate.joined_streams(words, rng),
                           "real, Speech Commands and DSPSpeech-20 held-out speakers' other words"),
        "Mandarin sentences": (evaluate.joined_streams(mandarin_sentences(rng, cache_dir), rng),
                               "synthetic, held-out voices, texts no training voice spoke"),
    }


def false_accepts(session, data_dir, held_out, cache_dir, classes, rules, rng):
    """Per rule (thresholds, verifier thresholds or None): {name: (counts
    per word, hours, what it is)}."""
    found = [{} for _ in rules]
    for name, (streams, what) in corpora(data_dir, held_out, cache_dir, rng).items():
        scored = evaluate.score_streams(session, streams)
        for figures, rule in zip(found, rules):
            counts, hours = evaluate.false_accepts(scored, classes, *rule)
            figures[name] = ({w: counts[w] for w in WORDS}, hours, what)
    return found
