"""Pinned public files: download once, check sha256, cache; or read a local mirror.

A file is named by (owner, repo, commit, path) and its sha256. With ``FTCOT_MIRROR=DIR``
the file is read from ``DIR/<owner>/<repo>/<path>`` (the layout of ftcot's offline mirror)
instead of the network; ``FTCOT_SOURCES_URL`` replaces https://raw.githubusercontent.com
(a proxy or an internal mirror). Downloads go to ``FTCOT_CACHE`` (default ``~/.cache/ftcot``).
Every file is checked against its pinned sha256 wherever it comes from; a file without a pin
is refused unless ``FTCOT_ALLOW_UNPINNED=1`` says to use it unchecked.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ftcot.errors import SourceError

log = logging.getLogger(__name__)
KOJIMA = ("kojima-takeshi188", "zero_shot_cot", "5ef330fcdeec0cd26aee27943504f91f8ec1c33c")
GSM8K = ("openai", "grade-school-math", "3101c7d5072418e28b9008a6636bde82a006892c")
AQUA = ("deepmind", "AQuA", "26b64ed1f22208c6742f47df547dfd65088ec30d")
TEACHER_REPO = ("itsnamgyu", "reasoning-teacher", "a2ca4d28d3bbabbd77106b76d06885d1a5eac0d9")


@dataclass(frozen=True)
class PinnedFile:
    owner: str
    repo: str
    commit: str
    path: str
    sha256: str | None = None  # None: not pinned; refused unless FTCOT_ALLOW_UNPINNED=1

    @property
    def url(self) -> str:
        base = os.environ.get("FTCOT_SOURCES_URL", "https://raw.githubusercontent.com").rstrip("/")
        return f"{base}/{self.owner}/{self.repo}/{self.commit}/{self.path}"

    @property
    def name(self) -> str:
        return f"{self.owner}/{self.repo}/{self.path}"


def _pin(origin: tuple[str, str, str], path: str, sha256: str | None) -> PinnedFile:
    return PinnedFile(origin[0], origin[1], origin[2], path, sha256)


# sha256 of every file ftcot reads, from the public repositories at the commits above.
FILES: dict[str, PinnedFile] = {
    f.name: f
    for f in [
        _pin(
            KOJIMA,
            "dataset/AQuA/test.json",
            "de41581881ef95c5588c44ddc701c77fd480839241dd422a0d181262af24520c",
        ),
        _pin(
            KOJIMA,
            "dataset/AddSub/AddSub.json",
            "21930fa90385c72b5a15f4b9a4dda27276b889ae9ff44285505cdd9fa0a20df8",
        ),
        _pin(
            KOJIMA,
            "dataset/Bigbench_Date/task.json",
            "ff716f0e399109146db3a998281c39954907b78268a9b633a95582d63847822f",
        ),
        _pin(
            KOJIMA,
            "dataset/Bigbench_object_tracking/task.json",
            "74b74d3c8827c0387a3f24ee9efa7edd90b2d53af3daacb9961341af66f750a0",
        ),
        _pin(
            KOJIMA,
            "dataset/CommonsenseQA/dev_rand_split.jsonl",
            "3210497fdaae614ac085d9eb873dd7f4d49b6f965a93adadc803e1229fd8a02a",
        ),
        _pin(
            KOJIMA,
            "dataset/CommonsenseQA/train_rand_split.jsonl",
            "58ffa3c8472410e24b8c43f423d89c8a003d8284698a6ed7874355dedd09a2fb",
        ),
        _pin(
            KOJIMA,
            "dataset/MultiArith/MultiArith.json",
            "dc9db1b6cc68b1ecc2dec830d15aaf8c9a0932aa31d5ffce88ef3628179d36f4",
        ),
        _pin(
            KOJIMA,
            "dataset/SVAMP/SVAMP.json",
            "5be77703a6d891ae476d7c082787ad361392aa02453b132516cdd5f4e7934e3e",
        ),
        _pin(
            KOJIMA,
            "dataset/SingleEq/questions.json",
            "051507bd2b489c257057b485774a83d2710c23a4bc0f4a58e1822ae2773ef05e",
        ),
        _pin(
            KOJIMA,
            "dataset/StrategyQA/task.json",
            "60af9081fed20102fd8bb1e02dc7d9f12238efcba33e4c1a56b4d61cb6409803",
        ),
        _pin(
            KOJIMA,
            "dataset/coin_flip/coin_flip.json",
            "68cf201737a1463ef6bed5419622805a8934d92bff6a28a9dfbf83be3135ba5a",
        ),
        _pin(
            KOJIMA,
            "dataset/last_letters/last_letters.json",
            "60e8d092d0a6423d3256e87e0c249b69aefea4cd27985082095fa4e93931fb02",
        ),
        _pin(
            KOJIMA,
            "log/addsub_zero_shot_cot.log",
            "5a35a7d04ad18f17a5918ba9f456ef85598ffb4ab340d40abd510b316ec65ce4",
        ),
        _pin(
            KOJIMA,
            "log/aqua_zero_shot_cot.log",
            "743315681523f6c459bb9dee0d106e1bbf813059bb0ecc3a75a9bbf8917766ad",
        ),
        _pin(
            KOJIMA,
            "log/coin_flip_zero_shot_cot.log",
            "6c5cd500498686106fad37b8ce85bed2bd26a790b6b1aaa8bec382a0d1103048",
        ),
        _pin(
            KOJIMA,
            "log/commonsensqa_zero_shot_cot.log",
            "f8027dc6f4c85045ad7567dc71a9b5a4d69fb75af7cdf08ef809fcea617a2757",
        ),
        _pin(
            KOJIMA,
            "log/date_understanding_zero_shot_cot.log",
            "14090fec37b29d4b7053f6ccc8d3865b8ffd949d9d2f21ae71c55f145cb087c8",
        ),
        _pin(
            KOJIMA,
            "log/gsm8k_zero_shot_cot.log",
            "cfb2d43b29762ca5fb09856899a6f6595c7deda6ff73c5e8a3becb8d791c54c4",
        ),
        _pin(
            KOJIMA,
            "log/last_letters_zero_shot_cot.log",
            "31e13b33aed4f1c8a920b10914fb31bc0965089afc714d0e72cf78a2f17387b5",
        ),
        _pin(
            KOJIMA,
            "log/multiarith_zero_shot_cot.log",
            "e2e3416d5f376b84513847b0ed2ac40fcfbe424b8279a18f0b6c980ff75fa351",
        ),
        _pin(
            KOJIMA,
            "log/singleeq_zero_shot_cot.log",
            "51bbcb0c0fcc8f5696cd4cd74d89e46d7e5d9ff8fb2e639c1664254a2ecde251",
        ),
        _pin(
            KOJIMA,
            "log/shuffled_objects_zero_shot_cot.log",
            "1bb4b95719d37b0cde221fa6d7fe40ab0aeb894d87973f48c6e1675b25301aa5",
        ),
        _pin(
            KOJIMA,
            "log/strategyqa_zero_shot_cot.log",
            "9268254c7c2d86a96b0346d64f5b782440b17ded142589d160ebb39e53fde5c9",
        ),
        _pin(
            KOJIMA,
            "log/svamp_zero_shot_cot.log",
            "37043ef358b75e108860746c533d0c9be0f307ec3373959524778f1b8af5a75a",
        ),
        _pin(
            GSM8K,
            "grade_school_math/data/train.jsonl",
            "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465",
        ),
        _pin(
            GSM8K,
            "grade_school_math/data/test.jsonl",
            "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
        ),
        _pin(AQUA, "test.json", "de41581881ef95c5588c44ddc701c77fd480839241dd422a0d181262af24520c"),
        # AQuA train (47,570,935 bytes) is not in the offline mirror. Its sha256 is the one recorded
        # for deepmind/AQuA train.json by Hugging Face datasets (datasets/aqua_rat/dataset_infos.json),
        # whose dev.json and test.json checksums in the same record match the files at the commit above.
        _pin(AQUA, "train.json", "35b70c7cb1660c34d302bb932dfd3656ce3d05e8c982c797767fec31d7d1e0ba"),
        _pin(
            TEACHER_REPO,
            "data/few_shot_cot_prompts.json",
            "72bb973daf1ab1217ec5bc1cc95a8be8ab78d05ff42356a3176341d848956d19",
        ),
        *[
            _pin(TEACHER_REPO, f"data/split/{name}.json", sha)
            for name, sha in {
                "addsub__default": "1a6f70a39554084978a44439db0b661b039ce4dd2c09572d2ff9f44f5ef668d0",
                "aqua__default": "8f6a271a99d34bc1fdf062672088eb17f7f782d86c60d9a709f06b6b8144ff6d",
                "coin_flip__default": "a5f7ffe4a1a1e0181cbd9d00259d34f980c0073efe8a3ed25f69433cfb74a3a4",
                "commonsense_qa__default": "4cec2867bc6bc201eaa5fc96844870d85356f32b4fa652c75b8b5e42b9fedc76",
                "date_understanding__default": "5fbfdd1f0db941dce6accd7f43316eda2a2254f3a80f9a3a045f5a19bfb04578",
                "date_understanding__template": "9b4508734ffc2ae908615e3f9f6ca3c9e27f44e4b5e714d220bd7152ddd39d89",
                "gsm8k__default": "cf0f484fcaa270ff33f4ce00bff3f7e1f7f30b3e3bc76d0abcb74c22a6e9a6e0",
                "last_letter_concatenation__default": "a5f7ffe4a1a1e0181cbd9d00259d34f980c0073efe8a3ed25f69433cfb74a3a4",
                "multiarith__default": "f2f47aeb18026cb3d1909b38b8828693aeaf624af3282d8021dbee32008a1409",
                "multiarith__template": "188abcfb1358424791e2d9c8d622ad10356283405fab11e1a58fa374cd9a48f4",
                "single_eq__default": "d46feb082615045ea0909c5ed062ef85f29ba95223cbca39e0bfbb1ad1b5e1b7",
                "strategy_qa__default": "0857d069a693a83c20466971b7e522b3c90c3258146c9b9461df98e4d2468de1",
                "svamp__default": "fae6cc3a5c50952da78b66991182be507c8585e6a59954e03bd997488608ab1f",
                "tracking_shuffled_objects__default": "6f2a4637d6e0692297e5eaa66bf53518445e1fbae1d94f28daae0040b7a1156a",
            }.items()
        ],
    ]
}


def cache_dir() -> Path:
    return Path(os.environ.get("FTCOT_CACHE", Path.home() / ".cache" / "ftcot")).expanduser()


def mirror_dir() -> Path | None:
    mirror = os.environ.get("FTCOT_MIRROR")
    return Path(mirror).expanduser() if mirror else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class SourceUnavailable(SourceError):
    """A pinned file is not in the mirror or could not be downloaded (unlike a file that is there
    but wrong, which is a plain SourceError): a caller may go on without it."""


def _check(file: PinnedFile, path: Path) -> None:
    if file.sha256 is None:
        if os.environ.get("FTCOT_ALLOW_UNPINNED") == "1":
            log.warning(
                "%s: no sha256 is pinned; using %s unchecked (FTCOT_ALLOW_UNPINNED=1)", file.name, path
            )
            return
        raise SourceError(
            f"{file.name}: no sha256 is pinned for it, so {path} cannot be checked and is not used. "
            "Pin its sha256, or set FTCOT_ALLOW_UNPINNED=1 to use it unchecked."
        )
    if (actual := sha256_of(path)) != file.sha256:
        raise SourceError(
            f"{path}: sha256 {actual} does not match the pinned {file.sha256} for {file.name}@{file.commit[:8]}. "
            "The file is corrupt or from another commit: delete it and fetch again."
        )


def fetch(name: str | PinnedFile, *, timeout: float = 60.0) -> Path:
    """Return a local path to the pinned file ``owner/repo/path``, downloading it at most once."""
    file = name if isinstance(name, PinnedFile) else FILES.get(name)
    if file is None:
        raise SourceError(f"{name}: not a pinned source file (known: {', '.join(sorted(FILES))})")

    if (mirror := mirror_dir()) is not None:
        path = mirror / file.owner / file.repo / file.path
        if not path.is_file():
            raise SourceUnavailable(
                f"{file.name}: not in the mirror FTCOT_MIRROR={mirror} (looked for {path}). "
                "Unset FTCOT_MIRROR to download it, or add the file to the mirror."
            )
        _check(file, path)
        return path

    path = cache_dir() / "sources" / file.owner / file.repo / file.commit / file.path
    if path.is_file():
        _check(file, path)
        return path
    _download(file, path, timeout)
    return path


def _download(file: PinnedFile, path: Path, timeout: float) -> None:
    import httpx

    path.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temporary file in the same folder and rename: no partial file is ever left at `path`.
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            httpx.stream("GET", file.url, timeout=timeout, follow_redirects=True) as r,
        ):
            if r.status_code != 200:
                raise SourceUnavailable(f"{file.name}: GET {file.url} answered HTTP {r.status_code}.")
            for chunk in r.iter_bytes():
                out.write(chunk)
        _check(file, tmp)
        os.replace(tmp, path)
    except httpx.HTTPError as e:
        raise SourceUnavailable(
            f"{file.name}: could not download {file.url} ({type(e).__name__}: {e}). "
            "Offline? Set FTCOT_MIRROR to a folder laid out as <owner>/<repo>/<path>."
        ) from e
    finally:
        tmp.unlink(missing_ok=True)
