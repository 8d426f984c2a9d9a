"""A planted set for `ainkit leakage`: a benchmark and a training file with known leaks, to measure the check's
precision and recall (tests/test_leakage.py, bench/leakage_scale.py, or `ainkit leakage --plant DIR` by hand).

    truth = write(Path("runs/planted"), images=40)      # bench.jsonl, train.jsonl, images/, truth.jsonl
    ainkit leakage --train runs/planted/train.jsonl --benchmarks planted=runs/planted/bench.jsonl \\
        --truth runs/planted/truth.jsonl --output runs/planted/check

Images are drawn here (seeded: gradients and filled shapes, so each has structure a pHash can see). Each benchmark
image leaks into the training file as four copies: re-encoded as JPEG (quality 70), resized to half, cropped by 5 %
of each side at a random place, and all three at once; a plain-colour benchmark image leaks as an exact copy.
Distractors: other drawn images and other plain colours (which pHash alone would confuse).

Questions: English-Arabic pairs written for the kit (true translations, by hand; not from any benchmark). The
benchmark asks the Arabic; the training file asks the English (the leak a translated benchmark hides), and one Arabic
question verbatim but with diacritics and other quotation marks (an exact match once normalised). Distractors:
English questions whose Arabic is nowhere in the benchmark, six of them near misses (the same question about another
country, another animal, another shape) that a cross-lingual encoder scores high.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from ainkit.services.records import write_records

PAIRS = [  # (English, Arabic): true translations, written for the kit
    ("What is the capital city of Morocco?", "ما هي عاصمة المغرب؟"),
    ("How many legs does a spider have?", "كم عدد أرجل العنكبوت؟"),
    ("Which planet is known as the Red Planet?", "أي كوكب يُعرف بالكوكب الأحمر؟"),
    ("What colour is the car parked next to the tree?", "ما لون السيارة المتوقفة بجانب الشجرة؟"),
    ("How many people are sitting at the table in the picture?", "كم عدد الأشخاص الجالسين إلى الطاولة في الصورة؟"),
    ("Who wrote the novel One Hundred Years of Solitude?", "من كتب رواية مئة عام من العزلة؟"),
    ("What is the boiling point of water at sea level in degrees Celsius?",
     "ما درجة غليان الماء عند مستوى سطح البحر بالدرجات المئوية؟"),
    ("Which of the following is a current asset: cash, buildings, land or patents?",
     "أي مما يلي يُعد من الأصول المتداولة: النقدية أم المباني أم الأراضي أم براءات الاختراع؟"),
    ("What is the plural of the word book?", "ما جمع كلمة كتاب؟"),
    ("In which year did the Second World War end?", "في أي عام انتهت الحرب العالمية الثانية؟"),
    ("What text is written on the sign above the shop door?", "ما النص المكتوب على اللافتة فوق باب المتجر؟"),
    ("Is there a dog in this image? Answer yes or no.", "هل يوجد كلب في هذه الصورة؟ أجب بنعم أو لا."),
    ("What does the chart show about sales in 2020?", "ماذا يُظهر الرسم البياني عن المبيعات في عام ٢٠٢٠؟"),
    ("Which organ pumps blood through the human body?", "أي عضو يضخ الدم في جسم الإنسان؟"),
    ("What is the largest desert in the world?", "ما أكبر صحراء في العالم؟"),
    ("How many sides does a hexagon have?", "كم عدد أضلاع الشكل السداسي؟"),
    ("What is the main ingredient of hummus?", "ما المكون الرئيسي في الحمص؟"),
    ("Which gas do plants absorb from the air?", "ما الغاز الذي تمتصه النباتات من الهواء؟"),
    ("What is the woman in the photo holding in her hand?", "ماذا تحمل المرأة التي في الصورة بيدها؟"),
    ("How long does it take the Earth to orbit the Sun?", "كم من الوقت تستغرق الأرض لتدور حول الشمس؟"),
]
BENCH_ONLY_AR = [  # benchmark questions no training record asks, in any language
    "ما اسم النهر الذي يمر عبر القاهرة؟", "كيف تُحضَّر القهوة العربية؟", "ما الجذر التربيعي للعدد ١٤٤؟",
    "كم الساعة التي تشير إليها الساعة المعلقة على الحائط؟", "ما الرمز الكيميائي للذهب؟", "لخّص الفقرة في جملة واحدة.",
]
TRAIN_ONLY_EN = [  # training questions whose Arabic no benchmark asks; the first six are near misses of PAIRS
    "What is the capital city of Tunisia?", "How many legs does an insect have?", "Which planet is closest to the Sun?",
    "How many sides does a pentagon have?", "What is the smallest desert in the world?",
    "What colour is the bus parked next to the house?",
    "Describe the weather in the photograph.", "Which football team won the 2010 World Cup?",
    "Translate the following sentence into French.", "Which animal is the fastest on land?",
    "How do you fix a flat bicycle tyre?", "Write a short poem about the sea.",
    "What are the symptoms of the common cold?", "List three uses of copper.",
]
VOCALISED = "ما جَمْعُ كَلِمَةِ «كتاب»؟"  # PAIRS[8]'s Arabic with diacritics and other quotation marks
NEAR_MISSES = 6  # the first entries of TRAIN_ONLY_EN
COPIES = ("jpeg", "resize", "crop", "all")  # how each drawn benchmark image leaks


def scene(seed: int, size: tuple[int, int] = (320, 240)):
    """A drawn image: a two-colour gradient and 4-9 filled shapes, all from `seed`."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    w, h = size
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, w)[None, :, None] if rng.random() < 0.5 else np.linspace(0, 1, h)[:, None, None]
    im = Image.fromarray(((c0 * (1 - t) + c1 * t) * np.ones((h, w, 1))).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(4, 10))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = int(rng.integers(0, 3))
        if shape == 0:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        elif shape == 1:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
        else:
            draw.polygon([(x0, y0), (x1, y0), (int(rng.integers(0, w)), y1)], fill=colour)
    return im


def copy_of(im, how: str, rng: np.random.Generator):
    """A near-duplicate: JPEG quality 70, half size, a 5 % crop of each side at a random place, or all three."""
    from PIL import Image

    if how in ("crop", "all"):
        w, h = im.size
        dx, dy = int(w * 0.05), int(h * 0.05)
        left, top = int(rng.integers(0, dx + 1)), int(rng.integers(0, dy + 1))
        im = im.crop((left, top, w - (dx - left), h - (dy - top)))
    if how in ("resize", "all"):
        im = im.resize((im.width // 2, im.height // 2), Image.Resampling.BILINEAR)
    if how in ("jpeg", "all"):
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG", quality=70)
        im = Image.open(io.BytesIO(buf.getvalue()))
    return im


def _chat(rid: str, question: str, image: str | None) -> dict[str, Any]:
    content = ("<image>" if image else "") + question
    return {"id": rid, "messages": [{"role": "user", "content": content}, {"role": "assistant", "content": "..."}],
            "images": [image] if image else []}


def write(folder: Path, images: int = 40, distractors: int = 80, seed: int = 0) -> list[dict[str, Any]]:
    """Write FOLDER/bench.jsonl, train.jsonl, images/ and truth.jsonl; return the truth ({id, bench_id, kind})."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = folder / "images"
    img.mkdir(parents=True, exist_ok=True)
    bench, train, truth = [], [], []
    for i in range(images):
        scene(seed * 100_000 + i).save(img / f"bench-{i}.png")
        bench.append({"id": f"b{i}", "dataset": "drawn", "images": [f"images/bench-{i}.png"]})
    for k, colour in enumerate(["red", "navy"]):  # plain images: exact copies leak, other plain colours must not
        Image.new("RGB", (64, 64), colour).save(img / f"bench-flat-{k}.png")
        bench.append({"id": f"flat{k}", "dataset": "plain", "images": [f"images/bench-flat-{k}.png"]})
    for n, question in enumerate([ar for _, ar in PAIRS] + BENCH_ONLY_AR):  # text-only items, as ArabicMMLU's
        bench.append({"id": f"q{n}", "dataset": "text", "question": question})
    neutral = iter(TRAIN_ONLY_EN[NEAR_MISSES:] * (images * len(COPIES) + 2))
    for i in range(images):
        source = Image.open(img / f"bench-{i}.png")
        for how in COPIES:
            name = f"copy-{i}-{how}.{'jpg' if how in ('jpeg', 'all') else 'png'}"
            copy_of(source, how, rng).save(img / name)
            train.append(_chat(f"t-img-{i}-{how}", next(neutral), f"images/{name}"))
            truth.append({"id": f"t-img-{i}-{how}", "bench_id": f"b{i}", "kind": "image"})
    (img / "copy-flat-0.png").write_bytes((img / "bench-flat-0.png").read_bytes())
    train.append(_chat("t-flat-copy", next(neutral), "images/copy-flat-0.png"))
    truth.append({"id": "t-flat-copy", "bench_id": "flat0", "kind": "image"})
    for k, colour in enumerate(["maroon", "blue", "white"]):
        Image.new("RGB", (96, 64), colour).save(img / f"other-flat-{k}.png")
        train.append(_chat(f"t-flat-other-{k}", next(neutral), f"images/other-flat-{k}.png"))
    for j in range(distractors):
        scene(seed * 100_000 + 50_000 + j).save(img / f"other-{j}.jpg", quality=85)
        train.append(_chat(f"t-other-{j}", next(neutral), f"images/other-{j}.jpg"))
    bench_of = {b.get("question"): b["id"] for b in bench}
    for n, (en, ar) in enumerate(PAIRS):
        train.append(_chat(f"t-q-{n}", en, None))
        truth.append({"id": f"t-q-{n}", "bench_id": bench_of[ar], "kind": "question"})
    train.append(_chat("t-q-exact", VOCALISED, None))  # a benchmark question copied, diacritics added: exact match
    truth.append({"id": "t-q-exact", "bench_id": bench_of[PAIRS[8][1]], "kind": "question"})
    for n, en in enumerate(TRAIN_ONLY_EN):
        train.append(_chat(f"t-qd-{n}", en, None))
    write_records(folder / "bench.jsonl", bench)
    write_records(folder / "train.jsonl", train)
    write_records(folder / "truth.jsonl", truth)
    return truth
