"""The dry run: what a teacher job would send and cost, before sending anything.

It walks the same request plan as the live run (`ftcot.teach.plan`) against the same cache,
so a cached step counts as cached here exactly when the run will find it there.
"""

from __future__ import annotations

from contextlib import closing

from ftcot.records import read_records
from ftcot.tasks import get_task
from ftcot.teach.backends import parse_teacher
from ftcot.teach.backends.base import cache_model_name
from ftcot.teach.cache import GenerationCache
from ftcot.teach.config import TeachConfig
from ftcot.teach.cost import estimate_tokens, load_prices, price_for, token_count_method
from ftcot.teach.plan import RequestPlan

# Backends that cannot return n samples of one prompt in one call (llama.cpp): one request per sample.
NO_N_BACKENDS = ("llamacpp",)


def estimate(config: TeachConfig) -> dict:
    """Tokens and cost before sending anything: exact for cached steps, an upper bound for the rest."""
    task = get_task(config.task)
    samples = task.samples(config.split, limit=config.limit)
    kind, model = parse_teacher(config.teacher)
    if kind == "recorded":
        return {"teacher": "recorded", "samples_todo": len(samples), "cost": 0.0}
    done: set = set()
    if (config.out / "completions.jsonl").exists():
        done = {r.key for r in read_records(config.out)}
    plan = RequestPlan.for_teach(config, task)
    cache_model = cache_model_name(model, config.chat)
    step1, step2 = plan.step1, plan.step2
    trigger_tokens = estimate_tokens(plan.trigger)
    prompt_tokens = completion_tokens = requests = todo = 0
    rationales_cached = answers_cached = 0
    with closing(GenerationCache(config.cache)) as cache:
        for sample in samples:
            first = plan.first(sample)
            first_tokens = estimate_tokens(first.prompt)
            indices = [d for d in range(config.diverse) if (task.name, sample.id, d) not in done]
            todo += len(indices)
            fresh = 0
            for d in indices:
                rationale = cache.get(first.cache_key(kind, cache_model, d))
                if rationale is None:  # its answer is unknown too: count the most both can take
                    fresh += 1
                    completion_tokens += step1.max_tokens
                    if not plan.one_step:
                        completion_tokens += step2.max_tokens
                        prompt_tokens += first_tokens + step1.max_tokens + trigger_tokens
                        requests += 1
                    continue
                rationales_cached += 1
                second = plan.second(sample, rationale)
                if second is None:
                    continue
                if cache.get(second.cache_key(kind, cache_model, d)) is not None:
                    answers_cached += 1
                    continue
                prompt_tokens += estimate_tokens(second.prompt)
                completion_tokens += step2.max_tokens
                requests += 1
            if fresh:  # one request for the missing samples where the backend takes n, else one each
                calls = fresh if kind in NO_N_BACKENDS else 1
                prompt_tokens += first_tokens * calls
                requests += calls
    price = price_for(kind, model, load_prices(config.prices), batch=config.batch_api)
    return {
        "teacher": config.teacher,
        "task": task.name,
        "split": config.split,
        "questions": len(samples),
        "samples_total": len(samples) * config.diverse,
        "samples_done": len(samples) * config.diverse - todo,
        "samples_todo": todo,
        "rationales_cached": rationales_cached,
        "answers_cached": answers_cached,
        "requests_at_most": requests,
        "prompt_tokens": prompt_tokens,
        "completion_tokens_at_most": completion_tokens,
        "token_count": token_count_method(),
        "cost_at_most": None if price is None else price.cost(prompt_tokens, completion_tokens),
        "price_per_1m": None if price is None else {"input": price.input, "output": price.output},
    }
