"""FakeSystemProbe: the SystemProbe port on recorded facts (extras, devices, disk, an event store)."""

from __future__ import annotations

from dataclasses import dataclass, field

from invarlock.domain.errors import InvarlockError
from invarlock.domain.system_facts import DeviceSupport, ExtraStatus, StoreSummary

EXTRAS = {"hf": ("torch", "transformers", "datasets"), "onnx": ("onnx", "onnxruntime")}


@dataclass
class FakeSystemProbe:
    """Answers from its fields; records the store paths it was asked about."""

    available: tuple[str, ...] = ("cpu",)
    cuda_bf16: bool = False
    missing: tuple[str, ...] = ()
    free: int = 50 * 2**30
    temp: str = "/fake/tmp"
    free_in_temp: int | None = None  # the temporary folder's free bytes, when not `free`
    store: StoreSummary | None = None
    store_error: InvarlockError | None = None
    stores_probed: list[str] = field(default_factory=list)

    def extras(self) -> list[ExtraStatus]:
        return [
            ExtraStatus(
                name=name,
                installed={p: "1.0" for p in packages if p not in self.missing},
                missing=tuple(p for p in packages if p in self.missing),
            )
            for name, packages in EXTRAS.items()
        ]

    def devices(self) -> DeviceSupport:
        known, dtypes = ("auto", "cpu", "cuda", "mps"), ("float32", "float16", "bfloat16")
        return DeviceSupport(known=known, dtypes=dtypes, available=self.available, cuda_bf16=self.cuda_bf16)

    def free_bytes(self, path: str) -> int:
        return self.free_in_temp if path == self.temp and self.free_in_temp is not None else self.free

    def temp_folder(self) -> str:
        return self.temp

    def store_summary(self, path: str) -> StoreSummary | None:
        self.stores_probed.append(path)
        if self.store_error is not None:
            raise self.store_error
        return self.store
