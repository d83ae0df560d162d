#!/usr/bin/env bash
# DCGAN on MNIST t10k for 5 minutes: genlab (experiment=dcgan_mnist) next to benchmarks/plain_dcgan.py,
# both scored by genlab-eval's protocol (10,000 samples, classifier FID vs the 2,000 held-out images).
# The two trainings run at the same time (same CPU contention); outputs in benchmarks/out/.
set -euo pipefail
DATA=${DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data/mnist}
OUT=$(cd "$(dirname "$0")" && pwd)/out
CACHE=$OUT/cache
python -m genlab.features dataset=mnist dataset.data_dir=$DATA dataset.train_split=t10k paths.cache_dir=$CACHE hydra.run.dir=$OUT/features
# ~recipe: the plain DCGAN the plain script also trains (the preset's MNIST recipe adds DiffAugment and R1);
# batch 64 and 20 epochs: the preset's settings when this was measured.
python -m genlab.train experiment=dcgan_mnist '~recipe' dataset.batch_size=64 trainer.max_epochs=20 \
  dataset.data_dir=$DATA dataset.train_split=t10k trainer.max_time=00:00:05:00 \
  paths.cache_dir=$CACHE hydra.run.dir=$OUT/genlab trainer.enable_progress_bar=false > $OUT/genlab_train.log 2>&1 &
python benchmarks/plain_dcgan.py --data-dir $DATA --minutes 5 --out $OUT/plain --cache-dir $CACHE > $OUT/plain.log 2>&1 &
wait
for ckpt in best last; do
  python -m genlab.eval ckpt_path=$OUT/genlab/checkpoints/$ckpt.ckpt metrics.num_samples=10000 paths.cache_dir=$CACHE \
    hydra.run.dir=$OUT/eval_$ckpt
done
cat $OUT/plain.log
