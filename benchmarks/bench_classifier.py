"""Classifier throughput, latency, memory and cold start. Prints figures; asserts nothing.

    python benchmarks/bench_classifier.py [N]

Headlines are generated from templates of real-looking English and Chinese news (companies,
products, verbs, numbers), so the matcher sees varied text rather than one string cached N times.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatebot.classifier import Classifier  # noqa: E402
from gatebot.ruleset import load_rules  # noqa: E402

EN = [
    "{co} orders {n} {chip} chips as demand for domestic compute rises",
    "{co} trains its new {model} model on {chip} clusters",
    "{co} says {chip} utilisation reached {p}% in the third quarter",
    "{vendor} open-sources its software stack to lure CUDA developers",
    "Small and mid-sized manufacturers in {city} adopt {chip} all-in-one appliances",
    "{city} hands out computing power vouchers worth {n} million yuan",
    "{co} delays {model} launch after training failures on {chip} hardware",
    "{vendor} stock rises {p}% after quarterly results",
    "Food delivery orders in {city} jump {p}% during the holiday",
    "{city} weather: rain expected through the weekend",
]
ZH = [
    "{zco}采购{n}台{zchip}服务器,国产化率超{p}%",
    "{zco}基于{zchip}完成{model}大模型训练",
    "{zcity}智算中心利用率提升至{p}%,算力租赁价格回落",
    "{zvendor}发布新版CANN,CUDA代码迁移成本下降",
    "{zcity}中小企业用上{zchip}一体机,开箱即用",
    "{zcity}发放算力券{n}万元,支持企业使用国产算力",
    "{zcity}外卖订单量同比增长{p}%",
    "{zcity}今日多云转晴,气温回升",
]
WORDS = {
    "co": ["ByteDance", "Alibaba", "Tencent", "Baidu", "China Mobile", "DeepSeek", "iFlytek"],
    "chip": ["Ascend 910C", "Ascend-950PR", "Kunlun", "Hygon DCU", "Cambricon", "MetaX"],
    "model": ["V4", "R2", "Qwen3", "ERNIE 5", "GLM-5"],
    "vendor": ["Huawei", "Moore Threads", "Cambricon", "Biren", "Enflame"],
    "city": ["Shenzhen", "Qingyang", "Hangzhou", "Wuhu", "Tianjin"],
    "zco": ["字节跳动", "阿里巴巴", "腾讯", "中国移动", "中国电信"],
    "zchip": ["昇腾910C", "昇腾950PR", "昆仑芯", "海光DCU", "寒武纪"],
    "zvendor": ["华为", "摩尔线程", "寒武纪", "壁仞"],
    "zcity": ["庆阳", "芜湖", "贵安", "天津", "郑州"],
}


def headlines(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        template = rng.choice(EN if rng.random() < 0.5 else ZH)
        fill = {k: rng.choice(v) for k, v in WORDS.items()}
        out.append(template.format(n=rng.randint(2, 90000), p=rng.randint(1, 99), **fill))
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    t0 = time.perf_counter()
    classifier = Classifier(load_rules(ROOT / "rules"))
    build_ms = (time.perf_counter() - t0) * 1000
    texts = headlines(n)
    for text in texts[:1000]:  # warm up
        classifier.classify(text)
    latencies = []
    gates = [0] * 5
    read = figured = 0
    start = time.perf_counter()
    for text in texts:
        t = time.perf_counter_ns()
        verdict = classifier.classify(text)
        latencies.append(time.perf_counter_ns() - t)
        gates[verdict.gate] += 1
        read += verdict.reading is not None
        figured += verdict.figure is not None
    elapsed = time.perf_counter() - start
    latencies.sort()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # The batch path (`gatebot classify` of a file): the same verdicts spread over worker processes.
    from gatebot.batch import classify_all, default_jobs

    start = time.perf_counter()
    batched = sum(1 for _ in classify_all(classifier, texts, lambda text, verdict: verdict.gate))
    batch_elapsed = time.perf_counter() - start

    colds = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gatebot.cli", "classify", "ByteDance orders Ascend 950PR chips"],
                       cwd=ROOT, capture_output=True, check=True)
        colds.append(time.perf_counter() - t)

    print(f"classifications:      {n:,} ({sum(1 for t in texts if any('一' <= c <= '鿿' for c in t)):,} zh)")
    print(f"gates predicted:      none {gates[0]:,}, 1 {gates[1]:,}, 2 {gates[2]:,}, 3 {gates[3]:,}, 4 {gates[4]:,}")
    print(f"with a reading:       {read:,} ({figured:,} quoting a figure)")
    print(f"rules load + build:   {build_ms:.0f} ms ({classifier.cue_count} cues, {classifier.term_count} terms)")
    print(f"throughput:           {n / elapsed:,.0f} headlines/s (single process)")
    print(f"batch throughput:     {batched / batch_elapsed:,.0f} headlines/s "
          f"(gatebot.batch, {default_jobs()} worker processes)")
    print(f"latency p50/p99/max:  {latencies[len(latencies) // 2] / 1e3:.1f} / "
          f"{latencies[int(len(latencies) * 0.99)] / 1e3:.1f} / {latencies[-1] / 1e3:.1f} µs")
    print(f"peak RSS:             {peak_mb:.0f} MB")
    print(f"cold start (gatebot classify, 5 runs): median {statistics.median(colds):.3f} s, max {max(colds):.3f} s")

    # The corpus itself, real headlines: the same figures on text the model was trained on.
    real = [json.loads(x)["text"] for x in (ROOT / "data" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    real_lat = []
    for text in real:
        t = time.perf_counter_ns()
        classifier.classify(text)
        real_lat.append(time.perf_counter_ns() - t)
    real_lat.sort()
    print(f"corpus headlines:     {len(real):,}; p50/p99 {real_lat[len(real_lat) // 2] / 1e3:.1f} / "
          f"{real_lat[int(len(real_lat) * 0.99)] / 1e3:.1f} µs")
    worst = []
    for name, text in (("'昇腾' x 20,000", "昇腾" * 20000), ("40,000 chars en+zh", "华为昇腾订单 Ascend orders " * 1500),
                       ("40,000 x 'a'", "a" * 40000),
                       ("40,000 chars of figures", "ByteDance orders $1,600,000 of Ascend chips, 56亿元 10万片 " * 700)):
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            classifier.classify(text)
            runs.append(1000 * (time.perf_counter() - t))
        worst.append(f"{name} median {statistics.median(runs):.1f} ms (max {max(runs):.1f})")
    print("long pastes:          " + "; ".join(worst))
    model = ROOT / "rules" / "model.json"
    print(f"model file:           {model.stat().st_size / 1e6:.1f} MB ({len(classifier.model.data.weights):,} features)"
          if classifier.model else "model file:           none")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp,
                        str(ROOT)], check=True, capture_output=True)
        wheel = next(Path(tmp).glob("gatebot-*.whl"))
        print(f"wheel:                {wheel.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
