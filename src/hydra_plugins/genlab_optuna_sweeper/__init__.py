"""genlab's Hydra sweeper on current Optuna (>= 4), with pruning and workers that share one study.

Why it exists: the released hydra-optuna-sweeper (1.3.0) requires optuna<3. Hydra finds this
package in the `hydra_plugins` namespace; `hydra/sweeper=genlab_optuna` selects it.
"""
