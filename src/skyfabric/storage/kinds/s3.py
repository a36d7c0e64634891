"""Store kind ``s3``: AWS S3 and S3-compatible stores (MinIO: an ``endpoint``, path-style).

Transport: s3fs. List prices (USD; a GB is 2**30 bytes, a month 30 days): AWS S3, US East
(N. Virginia), https://aws.amazon.com/s3/pricing/ (first 50 TB tier), as published in
2024-10: STANDARD 0.023/GB-mo; STANDARD_IA 0.0125 (30 days minimum, retrieval 0.01/GB);
ONEZONE_IA 0.01 (30 d, 0.01/GB); INTELLIGENT_TIERING 0.023 (frequent tier); GLACIER_IR 0.004
(90 d, 0.03/GB); GLACIER (Flexible Retrieval) 0.0036 (90 d, 0.01/GB, **offline**: restore
before read); DEEP_ARCHIVE 0.00099 (180 d, 0.02/GB, **offline**). PUT/COPY 0.005 per 1000;
lifecycle transitions 0.01 (IA), 0.02 (GLACIER_IR), 0.03 (GLACIER), 0.05 (DEEP_ARCHIVE) per
1000. Internet egress 0.09/GB. An S3-compatible endpoint (MinIO) has no list price: 0.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from skyfabric.config import S3StoreConfig
from skyfabric.errors import ConfigError, StoreError, brief
from skyfabric.storage.kinds._base import StoreKind
from skyfabric.storage.kinds._bucket_creation import BucketCreation
from skyfabric.storage.kinds._pricing import Price, price
from skyfabric.storage.kinds._support import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    env_secret,
    metadata_tags,
)
from skyfabric.storage.kinds._trino import env_ref, fs_switch
from skyfabric.storage.paths import join

__all__ = ["AWS_PRICES", "S3Store"]

AWS_PRICES: dict[str, Price] = {
    "STANDARD": price(0.023, 0.005, 0.0, 0.09, 0),
    "INTELLIGENT_TIERING": price(0.023, 0.01, 0.0, 0.09, 0),
    "STANDARD_IA": price(0.0125, 0.01, 0.01, 0.09, 30),
    "ONEZONE_IA": price(0.01, 0.01, 0.01, 0.09, 30),
    "GLACIER_IR": price(0.004, 0.02, 0.03, 0.09, 90),
    "GLACIER": price(0.0036, 0.03, 0.01, 0.09, 90, offline=True),
    "DEEP_ARCHIVE": price(0.00099, 0.05, 0.02, 0.09, 180, offline=True),
}
# S3-compatible servers accept the S3 class names but bill nothing per class.
_OFFLINE = {"GLACIER", "DEEP_ARCHIVE"}

# Region S3 creates a bucket in when CreateBucket carries no LocationConstraint, and which it
# refuses as an explicit constraint (InvalidLocationConstraint).
_S3_DEFAULT_REGION = "us-east-1"


def _s3_error_code(exc: BaseException) -> str:
    from botocore.exceptions import ClientError

    while exc is not None:
        if isinstance(exc, ClientError):
            return str(exc.response.get("Error", {}).get("Code", ""))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return ""


# botocore attempts per request ("standard" retry mode: throttling and transient errors), and
# s3fs's tries of a call that timed out: a silent endpoint costs at most about
# S3FS_RETRIES x S3_ATTEMPTS x (CONNECT_TIMEOUT or READ_TIMEOUT) seconds per call.
S3_ATTEMPTS = 3
S3FS_RETRIES = 2


class S3Store(StoreKind):
    """A bucket (plus prefix) on AWS S3 or an S3-compatible endpoint."""

    kind = "s3"
    scheme = "s3"
    schemes = ("s3", "s3a", "s3n")
    fsspec_impl = ("s3fs", "S3FileSystem")
    extra = "s3"
    # Storage classes an object can be changed to in place (AWS S3 user guide, "Storage classes").
    storage_classes = (
        "STANDARD",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER_IR",
        "GLACIER",
        "DEEP_ARCHIVE",
    )
    class_setting = "storage_class"
    provider_default_class = "STANDARD"
    list_prices = AWS_PRICES
    trino_reachable = True
    default_credentials = "default chain"
    config: S3StoreConfig

    @property
    def root(self) -> str:
        return join(self.config.bucket, self.config.prefix)

    # -- fsspec ------------------------------------------------------------------------------

    def storage_options(self) -> dict[str, Any]:
        cfg = self.config
        opts: dict[str, Any] = {}
        key = env_secret(self.name, "access_key_env", cfg.access_key_env)
        secret = env_secret(self.name, "secret_key_env", cfg.secret_key_env)
        token = env_secret(self.name, "session_token_env", cfg.session_token_env)
        if key is not None:
            opts["key"] = key
        if secret is not None:
            opts["secret"] = secret
        if token is not None:
            opts["token"] = token
        if cfg.profile:
            opts["profile"] = cfg.profile
        if cfg.anonymous:
            opts["anon"] = True
        if cfg.region:
            opts["client_kwargs"] = {"region_name": cfg.region}
        # Bounded waits: an endpoint that accepts connections but never answers held a
        # listing for over 20 min (botocore's 5 legacy attempts of 60 s, inside s3fs's own 5
        # retries of a timed-out call). Now: `S3_ATTEMPTS` botocore attempts of at most
        # `READ_TIMEOUT` s of silence each, and s3fs retries (`S3FS_RETRIES`) on top.
        opts["config_kwargs"] = {
            "connect_timeout": CONNECT_TIMEOUT,
            "read_timeout": READ_TIMEOUT,
            "retries": {"max_attempts": S3_ATTEMPTS, "mode": "standard"},
        }
        if cfg.endpoint:
            opts["endpoint_url"] = cfg.endpoint
            # MinIO and most S3-compatible servers only route path-style requests.
            opts["config_kwargs"]["s3"] = {"addressing_style": "path"}
        if cfg.storage_class:
            opts["s3_additional_kwargs"] = {"StorageClass": cfg.storage_class}
        return opts

    def _build(self) -> Any:
        fs = super()._build()
        fs.retries = S3FS_RETRIES  # s3fs's class default is 5 tries of every timed-out call
        return fs

    def client_arguments(self, options: dict[str, Any]) -> dict[str, Any]:
        """With an ``endpoint`` or explicit keys: a botocore session without the container
        and instance-metadata credential providers, so a MinIO store whose keys are missing
        never waits on 169.254.169.254 (botocore's ``iam-role``/``container-role``). The
        timeouts go in through ``config_kwargs`` (`storage_options`)."""
        out = super().client_arguments(options)
        cfg = self.config
        if (cfg.endpoint or "key" in options) and not cfg.profile:
            from aiobotocore.session import AioSession

            session = AioSession()
            resolver = session.get_component("credential_provider")
            for provider in ("iam-role", "container-role"):
                resolver.remove(provider)
            out["session"] = session
        return out

    # -- engines -----------------------------------------------------------------------------

    def polars_storage_options(self, fsspec_options: dict[str, Any]) -> dict[str, str]:
        cfg, opts = self.config, fsspec_options
        out: dict[str, str] = {}
        if "key" in opts:
            out["aws_access_key_id"] = opts["key"]
        if "secret" in opts:
            out["aws_secret_access_key"] = opts["secret"]
        if "token" in opts:
            out["aws_session_token"] = opts["token"]
        if cfg.region:
            out["aws_region"] = cfg.region
        if cfg.endpoint:
            out["aws_endpoint_url"] = cfg.endpoint
            out["aws_virtual_hosted_style_request"] = "false"
            if cfg.endpoint.startswith("http://"):
                out["aws_allow_http"] = "true"
        if cfg.profile:
            out["aws_profile"] = cfg.profile
        if cfg.anonymous:
            out["aws_skip_signature"] = "true"
        return out

    def fileio_properties(self) -> dict[str, str]:
        cfg = self.config
        opts = self.storage_options()
        props: dict[str, str] = {}
        for ours, theirs in (("key", "s3.access-key-id"), ("secret", "s3.secret-access-key"),
                             ("token", "s3.session-token"), ("profile", "s3.profile-name")):
            if opts.get(ours):
                props[theirs] = str(opts[ours])
        if cfg.anonymous:
            props["s3.anonymous"] = "true"
        if cfg.endpoint:
            props["s3.endpoint"] = cfg.endpoint
            props["s3.force-virtual-addressing"] = "false"  # MinIO & co route path-style only
        # Without a region PyArrowFileIO asks AWS where the bucket lives, even for MinIO.
        region = cfg.region or ("us-east-1" if cfg.endpoint else None)
        if region:
            props["s3.region"] = region
        return props

    def fileio(self, properties: dict[str, str]) -> Any:
        """pyarrow's FileIO; with a ``profile``, s3fs's (pyarrow's S3 client cannot select
        a profile)."""
        if self.config.profile:
            from pyiceberg.io.fsspec import FsspecFileIO

            return FsspecFileIO(properties)
        return super().fileio(properties)

    def trino_filesystem_properties(
        self, version: int, catalog: str, notes: list[str]
    ) -> list[str]:
        cfg = self.config
        lines = [fs_switch("s3", version), f"s3.region={cfg.region or 'us-east-1'}"]
        if cfg.endpoint:
            lines += [f"s3.endpoint={cfg.endpoint}", "s3.path-style-access=true"]
        if cfg.access_key_env:
            lines.append(f"s3.aws-access-key={env_ref(cfg.access_key_env)}")
        if cfg.secret_key_env:
            lines.append(f"s3.aws-secret-key={env_ref(cfg.secret_key_env)}")
        if cfg.storage_class:
            lines.append(f"s3.storage-class={cfg.storage_class}")
        if cfg.session_token_env or cfg.profile:
            lines.append("# session tokens and profiles: Trino uses the AWS default credential "
                         "chain of each node (AWS_PROFILE, instance role)")
        return lines

    # -- display -----------------------------------------------------------------------------

    def location_label(self) -> str:
        return f"s3://{self.config.bucket}"

    # -- storage classes and prices ----------------------------------------------------------

    @property
    def price_provider(self) -> str:
        """``aws`` for AWS endpoints, ``s3-compatible`` for any other endpoint."""
        endpoint = self.config.endpoint or ""
        return "aws" if not endpoint or "amazonaws.com" in endpoint else "s3-compatible"

    def list_price(self, storage_class: str) -> Price:
        if self.price_provider == "aws" and storage_class in AWS_PRICES:
            return AWS_PRICES[storage_class]
        return Price(offline=self.price_provider == "s3-compatible" and storage_class in _OFFLINE)

    def read_class(self, native: str, info: dict[str, Any] | None = None) -> str | None:
        info = info or {}
        return info.get("StorageClass") or self.fs.info(native).get("StorageClass") or "STANDARD"

    def set_class(self, native: str, storage_class: str, size: int) -> None:
        """``CopyObject`` onto itself, or a multipart copy for objects over 5 GiB (see
        `skyfabric.storage.kinds._s3_classes`)."""
        from skyfabric.storage.kinds import _s3_classes

        _s3_classes.change_class(self, native, storage_class, size)

    def object_tags(self, native: str, info: dict[str, Any]) -> dict[str, str]:
        """S3 object tags, then the user metadata (``HeadObject``; listings carry none)."""
        fs: Any = self.fs
        tags = dict(fs.get_tags(native))
        tags.update(metadata_tags(fs.metadata(native)))
        return tags

    spark_package = "org.apache.hadoop:hadoop-aws:3.3.4"

    def spark_settings(self, conf: dict[str, str], notes: list[str]) -> None:
        """S3A (``s3://`` mapped to ``S3AFileSystem``) with this bucket's endpoint, path-style
        access, region and keys as per-bucket options (``fs.s3a.bucket.<b>.*``), so MinIO and
        AWS buckets coexist in one session."""
        from skyfabric.storage.kinds._spark import spark_env_ref

        cfg = self.config
        conf["spark.hadoop.fs.s3.impl"] = "org.apache.hadoop.fs.s3a.S3AFileSystem"
        base = f"spark.hadoop.fs.s3a.bucket.{cfg.bucket}"
        if cfg.endpoint:
            conf[f"{base}.endpoint"] = cfg.endpoint
            conf[f"{base}.path.style.access"] = "true"
            if cfg.endpoint.startswith("http://"):
                conf[f"{base}.connection.ssl.enabled"] = "false"
        conf[f"{base}.endpoint.region"] = cfg.region or "us-east-1"
        if cfg.anonymous:
            conf[f"{base}.aws.credentials.provider"] = (
                "org.apache.hadoop.fs.s3a.AnonymousAWSCredentialsProvider")
        elif cfg.access_key_env and cfg.secret_key_env:
            conf[f"{base}.access.key"] = spark_env_ref(cfg.access_key_env)
            conf[f"{base}.secret.key"] = spark_env_ref(cfg.secret_key_env)
            if cfg.session_token_env:
                conf[f"{base}.session.token"] = spark_env_ref(cfg.session_token_env)
                conf[f"{base}.aws.credentials.provider"] = (
                    "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider")
        elif cfg.profile:
            notes.append(f"{self.name}: profile {cfg.profile!r}: S3A uses the AWS default chain; "
                         f"export AWS_PROFILE={cfg.profile} on the driver and executors")

    # -- the bucket itself (skyfabric stores --create) ------------------------------------

    def create_bucket(self) -> BucketCreation:
        from botocore.exceptions import ClientError

        cfg = self.config
        fs = self.fs
        details = [f"region {cfg.region or _S3_DEFAULT_REGION}"]
        if cfg.endpoint:
            details.append(f"endpoint {cfg.endpoint}")
        result = BucketCreation(
            self.name, self.kind, f"s3://{cfg.bucket}", created=True, details=", ".join(details)
        )
        try:
            fs.call_s3("head_bucket", Bucket=cfg.bucket)
        except FileNotFoundError:
            pass  # s3fs translates 404 NoSuchBucket
        except PermissionError as exc:
            raise StoreError(
                f"store {self.name!r}: bucket {cfg.bucket!r} exists but these credentials may not "
                f"use it ({brief(exc)}); fix: bucket names are global on S3, pick another `bucket` "
                f"in [stores.{self.name}], or use the owner's credentials"
            ) from exc
        else:
            return replace(result, created=False)
        params: dict[str, Any] = {"Bucket": cfg.bucket}
        if cfg.region and cfg.region != _S3_DEFAULT_REGION:
            params["CreateBucketConfiguration"] = {"LocationConstraint": cfg.region}
        try:
            fs.call_s3("create_bucket", **params)
        except (ClientError, OSError, ValueError) as exc:
            code = _s3_error_code(exc)
            if code == "BucketAlreadyOwnedByYou":  # created meanwhile, by us
                return replace(result, created=False)
            if code == "BucketAlreadyExists":
                raise StoreError(
                    f"store {self.name!r}: bucket name {cfg.bucket!r} is taken by another account "
                    f"(bucket names are global); fix: choose another `bucket` in [stores.{self.name}]"
                ) from exc
            if code in ("InvalidLocationConstraint", "IllegalLocationConstraintException"):
                raise ConfigError(
                    f"store {self.name!r}: the endpoint refused region {cfg.region!r} for a new "
                    f"bucket ({brief(exc)}); fix: set `region` in [stores.{self.name}] to the "
                    "endpoint's region"
                ) from exc
            if code == "InvalidBucketName":
                raise ConfigError(
                    f"store {self.name!r}: the endpoint refused the bucket name {cfg.bucket!r} "
                    f"({brief(exc)}); fix: choose another `bucket` in [stores.{self.name}]"
                ) from exc
            raise
        fs.invalidate_cache()
        return result

    # -- the obstore transport ---------------------------------------------------------------

    has_obstore = True
    multipart_etag_is_md5_of_parts = True

    #: CopyObject copies at most 5 GiB (AWS S3 API reference, "CopyObject"); larger
    #: server-side copies go through s3fs's multipart copy.
    max_server_copy = 5 * 2**30

    def _build_obstore(self) -> Any:
        from skyfabric.storage._obstore_clients import s3_store

        return s3_store(self.name, self.config)
