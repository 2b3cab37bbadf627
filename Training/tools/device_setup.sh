# Sourced by device_train.sh and device_compare.sh on a borrowed GPU machine, with PACK and OUT set:
# installs the carried wheels ($PACK/whl), unpacks $PACK/data.zip, sets one thread per process, and
# fills `manifests` with --train for every unpacked manifest. Exits the script on a failure.
: "${OUT:?set OUT to the folder for the results}"
if ls "$PACK"/whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$PACK"/whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
python3 -c "import zipfile, sys; zipfile.ZipFile(sys.argv[1] + '/data.zip').extractall(sys.argv[1])" "$PACK" || exit 1
export OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
manifests=(); for m in "$PACK"/data/*.jsonl; do manifests+=(--train "$m"); done
