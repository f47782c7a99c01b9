# Sourced by scripts/serve and scripts/test: make .venv hold this checkout's package.
# Needs only Python 3.11+ on PATH; installs again only when pyproject.toml changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "studyroom needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.studyroom-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing studyroom and its dependencies into .venv …" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  # llama.cpp compiles here, by default for exactly this CPU (-march=native). On CPUs with
  # AMX that build's matrix kernels crash the offline tutor on its first token (a segfault
  # in ggml_backend_amx_mul_mat), and such a build does not move to another machine anyway:
  # on x86-64, build for AVX2 (x86-64-v3) unless CMAKE_ARGS says otherwise.
  if [ "$(uname -m)" = x86_64 ] && [ -z "${CMAKE_ARGS:-}" ]; then
    export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
  fi
  # Built afresh, not from pip's wheel cache, which may hold a native build from before.
  llama="$(.venv/bin/python -c 'import re, tomllib; deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]; print(next(d for d in deps if re.match(r"llama-cpp-python\b", d)))')"
  .venv/bin/python -m pip install --quiet --no-cache-dir "$llama"
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  echo "$want" > "$stamp"
fi
