"""The keyword vocabulary, and the text the synthetic voices speak.

Class order is the model's logit order and the manifest's `classes`.
Negative text avoids the keywords and their exact homophones ("know",
"won", "ate", "fore", 事, 衣 …): the model cannot tell those apart, and
teaching it that they are not keywords would only cost detections.
Near misses that sound different (agency, complain, refill, 十, 人民, 头 …)
are there on purpose: they teach the model where a keyword ends.
"""

SILENCE = "_silence_"
UNKNOWN = "_unknown_"

ENGLISH_WORDS = ["agent", "representative", "operator", "complaint", "refund", "yes", "no",
                 "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
MANDARIN_WORDS = ["人工", "转人工", "投诉", "赔偿", "是", "不是",
                  "零", "一", "二", "三", "四", "五", "六", "七", "八", "九"]
WORDS = ENGLISH_WORDS + MANDARIN_WORDS
CLASSES = [SILENCE, UNKNOWN] + WORDS

# The words that hand the call over (the sample configuration's human_words
# and complaint_words): the strict false-accept target applies to them.
TRIGGER_WORDS = ["agent", "representative", "operator", "人工", "转人工", "complaint", "refund", "投诉", "赔偿"]

ENGLISH_NEAR_MISSES = [
    "agency", "urgent", "regent", "aging", "gentle", "present", "representation", "repetitive",
    "operation", "opera", "cooperate", "complain", "compliment", "complete", "account", "refill",
    "refuse", "fund", "funding", "return", "yesterday", "yet", "yeah", "yellow", "nope", "now",
    "new", "note", "nobody", "hero", "zebra", "wonder", "once", "tooth", "tree", "three-d",
    "free", "thirty", "floor", "forty", "fourteen", "fine", "fire", "hive", "sixty", "sticks",
    "seventy", "heaven", "eighty", "eighteen", "late", "nineteen", "ninety", "line", "mine",
    "balance", "billing", "savings", "payment", "address", "password", "hello", "help", "cancel",
    "manager", "person", "human", "customer", "service", "account number", "credit card",
    # rhymes and near rhymes of the short keywords
    "hero", "sierra", "fun", "gun", "run", "sun", "none", "done", "want", "do", "who", "shoe", "tool",
    "zoo", "true", "tea", "see", "thee", "door", "more", "pour", "core", "war", "sore", "fall", "far",
    "fight", "dive", "wife", "alive", "file", "sick", "mix", "fix", "kicks", "seeks", "several",
    "eleven", "hate", "date", "gate", "weight", "wait", "plate", "nice", "wine", "night", "knife",
    "dine", "chess", "less", "guess", "snow", "go", "low", "nose", "nor", "ancient", "patient",
    "agenda", "compliant", "campaign", "paint", "comply", "refine", "rebound", "would", "world",
    "word", "wood", "work", "well",
]
MANDARIN_NEAR_MISSES = [
    "人民", "工人", "人口", "工作", "工资", "人员", "转账", "转接", "投资", "头发", "透露", "投票",
    "赔钱", "补偿", "偿还", "赔付", "十", "实在", "时间", "不要", "不会", "不对", "领导", "以后",
    "亿", "儿子", "耳机", "伞", "死", "丝", "无", "雾", "刘", "流量", "起来", "气", "吧", "爸爸",
    "就", "酒店", "余额", "账单", "密码", "信用卡", "银行", "客服", "经理", "你好", "谢谢", "再见",
    "退款", "查询", "办理", "营业", "地址", "手机", "电话", "问题",
]

ENGLISH_SENTENCES = [
    "I would like to check the balance of my savings account please",
    "Could you tell me when the branch opens on Saturday",
    "My card was declined at the shop this morning",
    "I have been waiting on the line for a very long time",
    "Hello, can you hear me, the line is really bad",
    "I moved house last month and need to change my address",
    "The payment still has not arrived on my account",
    "Why is there an extra charge on my latest bill",
    "Please tell me how much money I have left",
    "I forgot my password and the app locked me out",
    "This is the third time I am calling about the same thing",
    "Can somebody please explain what is going on with my order",
    "I just want to talk to a real person",
    "The weather has been terrible all week",
    "Kids are playing football in the park",
    "We are going to visit my mother at the weekend",
    "The internet keeps dropping out in the evening",
    "I am calling for my father, he cannot hear very well",
    "Sorry, I did not catch that, could you say it again",
    "The delivery came late and the box was damaged",
    "Thank you very much, that was really helpful",
    "Please hold on a moment while I find my card",
    "It says my account is closed but I never closed it",
    "I would like to open a new savings account",
    "My daughter used my card without asking",
    "What are your opening hours on public holidays",
    "The machine swallowed my card at the station",
    "How long does a transfer to another bank take",
    "I have a question about the interest rate",
    "I am not happy at all with the way this was handled",
]
MANDARIN_SENTENCES = [
    "我想查询我的账户余额", "请问你们周末几点开门", "我的银行卡今天被拒绝了",
    "我已经等了很长时间了", "喂，你能听到我说话吗", "我上个月搬家了，想改地址",
    "那笔钱到现在还没有到账", "为什么我的账单上多了费用", "我忘记密码了，手机银行登不上去",
    "这个问题我已经打过好几次电话了", "请帮我查查我的订单", "今天天气很好，我们去公园散步吧",
    "我女儿用了我的卡", "你们营业厅在什么地方", "转账到别的银行要多长时间",
    "我想办理新的信用卡", "利率现在怎么算", "谢谢你，非常感谢", "对不起，我没有听清楚",
    "请稍等，我找找我的卡", "网络晚上总断线", "快递送晚了，盒子也坏了",
    "我爸爸耳朵不好，我替他打电话", "我想开通网上银行", "你们的服务态度太差了",
    "这张卡怎么用不了了", "我要修改手机号码", "信用卡的额度能不能提高",
    "我在外地，能不能办理", "能不能帮我看看这笔钱去哪里了",
]
# Other languages, for callers who speak neither English nor Mandarin: (espeak-ng voice, text).
OTHER_LANGUAGE_SENTENCES = [
    ("de", "Ich möchte bitte meinen Kontostand wissen"), ("de", "Die Verbindung ist sehr schlecht heute"),
    ("fr", "Je voudrais parler de ma facture du mois dernier"), ("fr", "Pouvez vous répéter s'il vous plaît"),
    ("es", "Quiero saber cuánto dinero tengo en la cuenta"), ("es", "La llamada se corta todo el tiempo"),
    ("it", "Vorrei sapere quando apre la filiale"), ("pt-br", "Minha conta foi bloqueada sem motivo"),
    ("ru", "Я хочу узнать баланс моего счёта"), ("pl", "Chciałbym zmienić adres zamieszkania"),
    ("nl", "Mijn kaart werkt niet meer sinds gisteren"), ("tr", "Hesabımda bir sorun var gibi görünüyor"),
    ("hi", "मैं अपने खाते के बारे में जानना चाहता हूँ"), ("vi", "Tôi muốn hỏi về hóa đơn của tôi"),
    ("ja", "口座の残高を確認したいのですが"), ("ko", "제 카드가 작동하지 않습니다"),
    ("ar", "أريد أن أعرف رصيد حسابي من فضلك"), ("id", "Saya ingin menanyakan tagihan saya"),
    ("yue", "我想問下我個戶口仲有幾多錢"), ("sv", "Jag vill prata om min räkning"),
]

# Random phrases, for many more `_unknown_` voices and sound sequences than
# hand-written sentences give. English words come from Debian's wamerican
# list minus the keywords and their homophones; Mandarin from common
# characters minus those that sound exactly like a keyword syllable (same
# syllable and tone: 人, 工/公, 转, 头/投, 诉/速, 赔/陪, 偿/常/长, 是/事/市/式/世/试/视,
# 不/部/步, 零/灵, 一/衣/医, 二, 三, 四, 五/午, 六, 七/期, 八/吧, 九/久/酒).
WORD_LIST = "/usr/share/dict/words"
ENGLISH_EXCLUDED = set(ENGLISH_WORDS) | {"know", "knows", "noh", "won", "ate", "fore", "for", "to", "too",
                                         "oh", "nein", "yea", "yeah", "agents", "refunds", "complaints",
                                         "operators", "representatives", "zeros", "ones", "twos", "threes",
                                         "fours", "fives", "sixes", "sevens", "eights", "nines"}
COMMON_CHARACTERS = (
    "的了和在有我他这中大来上国个到说们为子你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多"
    "天而能好都然没日于起还发成只作当想看文无开手十用主行方又如前所本见经面同已老从动两知民样现分将外但身"
    "些与高意进把法此实回理美点月明其种声全己话儿者向情正名定女问力机给等几很业最间新什打便位因重被走电第"
    "门相次东政海口使教西再平真听气信北少关并内加化由却代军产入先山太水万眼体别处总才场师书比住员笑性通目"
    "华报立马命张活难神数件安表原车白应路叫死提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清"
    "物台象记边共风战干接它许特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结功指思非流每青管"
    "夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候必城父强步完革深区即求品士房讲早备"
)
CHARACTERS_EXCLUDED = set("人仁工公功攻宫转头投诉速素赔陪偿常长肠是事市式世试视室不部步零灵铃一衣医依二三四五午六七期八吧九久酒")
