"""What every modality whose samples are files shares: where its splits are read (lamina.data.file_splits), what
a server and batch scoring take of it (files, never strings). Image and audio preprocessing inherit it; the rest of
lamina.data.modality.FileModality is each one's own.
"""

from __future__ import annotations


class FileSamples:
    """The file modalities' common part of the modality interface."""

    reads_tables = False
    encoded_once = False  # only a pretrained model's config freezes its encoder
    cell = "path"  # a batch-scoring table names files
    upload_fields = "file field"  # what a multipart upload carries the inputs in

    @classmethod
    def claims_table(cls, cfg) -> bool:
        return False

    @classmethod
    def prepare(cls, cfg, seed: int, tokenizer_file, layout):
        from lamina.data.file_splits import prepare_files

        return prepare_files(cls, cfg, seed, layout)

    def read_eval(self, path, task, split, recorded, skip_bad: bool, use_cache: bool, tokenizer, columns):
        from lamina.data.file_splits import eval_files

        return eval_files(self, path, task, split, recorded, skip_bad, use_cache)

    def request_inputs(self, graph: dict) -> list[dict]:
        return [graph]

    def column_groups(self) -> dict:
        return {}  # a file has no columns

    def advertised(self, inputs: list[dict]) -> list[dict]:
        return inputs[:1]

    def from_named_inputs(self, named: dict, tokenizer=None, root=None):
        raise TypeError("a file modality takes its graph's tensor only")  # request_inputs offers nothing else

    def page_form(self) -> dict:
        return {"kind": "file", "accept": self.accept}  # the page's file chooser

    def uploads(self, body: bytes) -> list[bytes]:
        return [body]  # one file

    def string_fields(self, values: list[str]) -> list[bytes]:
        return []  # a form's strings are not inputs: only its files are
