"""The API's wire formats (requests and responses), kept apart from the DB rows in assets/models.py.

Field names are part of the public interface (issue 2): `assets: {glb, usdz, report}`,
`dimensions_m: {width, height, depth}`, jobs as `{id, sku, status, progress, error?}`.
Fields that do not apply are left out of responses rather than sent as null.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from assets.webhooks import WebhookEvent
from processing.settings import OPTIMIZE_VERTICES_UP_TO, Axis, Fit, Placement, Unit

# A sku is also a path segment (/view/<sku>, /v1/products/<sku>): URL-safe characters only, and it
# starts with a letter or digit so that "." and ".." (which clients normalise away) are impossible.
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
TENANT_PATTERN = SKU_PATTERN
MAX_DIMENSION = 100_000  # in the declared unit; anything larger is a typo, not furniture
# The largest integer SQLite and PostgreSQL take (signed 64-bit): a larger id or offset is a 422, not a 500.
MAX_DB_INTEGER = 2**63 - 1

JobStatus = Literal["queued", "running", "succeeded", "failed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeclaredDimensions(_Strict):
    """The product's catalog size: width (x), height (y), depth (z)."""

    width: float = Field(gt=0, le=MAX_DIMENSION)
    height: float = Field(gt=0, le=MAX_DIMENSION)
    depth: float = Field(gt=0, le=MAX_DIMENSION)
    unit: Unit = "cm"


# Shown to shoppers (Quick Look banner, Scene Viewer, labels): one line of text, no control characters.
_TEXT = r"^[^\x00-\x1f\x7f]*$"


class StorefrontFields(_Strict):
    """What AR shows besides the model: the Quick Look banner, Scene Viewer's title and link, and
    the locale that picks the unit of the viewer's dimension labels (inches for en-US, else cm)."""

    price: str | None = Field(None, max_length=32, pattern=_TEXT, examples=["$1,299.00"])
    call_to_action: str | None = Field(None, max_length=64, pattern=_TEXT, examples=["Add to cart"])
    checkout_title: str | None = Field(None, max_length=120, pattern=_TEXT)
    checkout_subtitle: str | None = Field(None, max_length=120, pattern=_TEXT)
    title: str | None = Field(None, max_length=200, pattern=_TEXT, description="Scene Viewer title (default: name).")
    link: str | None = Field(
        None, max_length=2000, pattern=r"^https?://[^\s]+$", description="The product's page in the shop."
    )
    locale: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$", examples=["en-US", "fr-FR"])


class ProductCreate(StorefrontFields):
    sku: str = Field(pattern=SKU_PATTERN, examples=["SOFA-3S-OAK"])
    name: str = Field(min_length=1, max_length=200, examples=["Three-seat sofa, oak"])
    dimensions: DeclaredDimensions | None = None
    placement: Placement = "floor"


class ModelUploadForm(_Strict):
    """The form fields that may come with an uploaded model (besides `file`)."""

    unit: Unit | None = Field(None, description="Unit of the file's coordinates, when the file does not say.")
    max_triangles: int | None = Field(None, ge=12, le=5_000_000, description="Triangle budget (default 100,000).")
    up_axis: Axis | None = Field(None, description="The file's up direction (e.g. 'z' for CAD files), when it does not say or says wrong.")
    front: Axis | None = Field(None, description="The direction the product's front faces in the file (e.g. '-x'); turned to face the shopper.")
    fit: Fit | None = Field(None, description="'scale' allows a uniform rescale of up to 10% to meet the declared dimensions.")
    tolerance: float | None = Field(None, gt=0, lt=0.5, description="Relative tolerance when matching the declared dimensions (default 0.02).")
    web_textures: Literal["webp", "ktx2"] | None = Field(
        None, description="Textures of the web GLB: 'webp' (default, smallest download) or 'ktx2' (Basis Universal: "
                          "stays compressed in video memory, for texture-heavy products on phones; slower to convert).")
    max_texture_memory_mib: int | None = Field(
        None, ge=8, le=4096, description="Video memory all textures may take once decoded, in MiB (default 128: two "
                                         "2048 px PBR sets); the largest textures are halved until they fit.")
    optimize_vertices: bool | None = Field(
        None, description="Decimation also moves the kept vertices to fit the original best: about half the mean "
                          "error at the same triangles, a slower conversion (default: on for products of up to "
                          f"{OPTIMIZE_VERTICES_UP_TO:,} triangles).")


class ProductUpdate(StorefrontFields):
    """PATCH body: only the fields sent change; null clears an optional field.

    New dimensions or placement apply to the next conversion (upload or re-process), not to the
    published files.
    """

    name: str | None = Field(None, min_length=1, max_length=200)
    dimensions: DeclaredDimensions | None = None
    placement: Placement | None = None


class DirectUploadRequest(_Strict):
    """A very large original the client will PUT straight to the bucket (S3 storage only)."""

    size: int = Field(gt=0, description="Exact size in bytes; the upload URL accepts this many bytes only.")


class DirectUploadJob(ModelUploadForm):
    """Starts the conversion of a direct upload: the form fields of an upload, and the file's name."""

    filename: str = Field("upload", min_length=1, max_length=255, description="For display only.")


class DirectUploadOut(BaseModel):
    upload_id: str
    url: str = Field(description="PUT the file's bytes here, with `headers`, before `expires`.")
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str]
    expires: datetime


class ReprocessRequest(ModelUploadForm):
    """Settings for converting the stored original again; what is left out is kept from its last run."""


class Assets(BaseModel):
    glb: str = Field(description="The AR-safe GLB (plain, Scene Viewer reads it): the viewer's `src`.")
    glb_web: str | None = Field(None, description="The same model quantised and meshopt-compressed, for inline 3D only.")
    usdz: str
    report: str
    poster: str | None = Field(None, description="A transparent 1024 px picture of the model (WebP).")


class Engagement(BaseModel):
    """All-time shopper events of a product, from its viewer pages and embeds."""

    views: int
    ar_button_shown: int = Field(description="Views on a device that can start AR.")
    ar_launches: int
    ar_launch_rate: float | None = Field(
        None, description="AR launches per view that showed the AR button; left out before the first such view."
    )


class MeasuredDimensions(BaseModel):
    """Size of the published model in metres."""

    width: float
    height: float
    depth: float


class ErrorDetail(BaseModel):
    code: str
    message: str


class FieldError(BaseModel):
    loc: list[str] = Field(description="Where the field is: body, query, path or header, then its name.")
    message: str
    type: str


class ApiErrorDetail(ErrorDetail):
    fields: list[FieldError] | None = Field(None, description="VALIDATION_ERROR only: each wrong field (at most 20).")


class ErrorOut(BaseModel):
    """The body of every error the API answers (api/errors.py)."""

    error: ApiErrorDetail


class VersionSummary(BaseModel):
    """A published version at a glance (from its report)."""

    triangles: int | None = None
    bytes: dict[str, int] = Field(default_factory=dict, description="File sizes by kind: glb, glb_web, usdz.")
    warnings: int = 0
    dimension_mismatch: bool = Field(
        False, description="The measured size differs from the declared one by more than the tolerance."
    )


class SourceFile(BaseModel):
    """The original file behind the published version."""

    sha256: str
    filename: str
    size: int


class JobSummary(BaseModel):
    id: str
    status: JobStatus
    kind: Literal["upload", "reprocess"]
    error: ErrorDetail | None = None
    created: datetime


class ProductOut(StorefrontFields):
    model_config = ConfigDict(extra="ignore")

    sku: str
    name: str
    dimensions: DeclaredDimensions | None = None
    placement: Placement
    created: datetime
    assets: Assets | None = Field(None, description="Absolute URLs of the published files.")
    dimensions_m: MeasuredDimensions | None = None
    view_url: str | None = Field(None, description="The public viewer page, once published.")
    engagement: Engagement | None = Field(None, description="In the catalog list only.")
    version: int | None = Field(None, description="The published version's id.")
    summary: VersionSummary | None = Field(None, description="Of the published version.")
    source: SourceFile | None = None
    latest_job: JobSummary | None = None


class VersionOut(BaseModel):
    id: int
    created: datetime
    job_id: str | None = None
    published: bool
    dimensions_m: MeasuredDimensions | None = None
    summary: VersionSummary | None = None
    assets: Assets | None = Field(None, description="Only for the published version (others are not served).")


class VersionList(BaseModel):
    versions: list[VersionOut]


class ProductList(BaseModel):
    products: list[ProductOut]


class JobRef(BaseModel):
    id: str
    status: JobStatus


class UploadAccepted(BaseModel):
    job: JobRef


class JobOut(BaseModel):
    id: str
    sku: str
    status: JobStatus
    kind: Literal["upload", "reprocess"] = "upload"
    progress: float = Field(description="From 0 to 1.")
    error: ErrorDetail | None = None
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None


class JobList(BaseModel):
    jobs: list[JobOut]


class WebhookCreate(_Strict):
    url: str = Field(max_length=2000, pattern=r"^https?://\S+$", examples=["https://shop.example/hooks/vitrine"])
    events: list[WebhookEvent] = Field(min_length=1, description="What to send; duplicates are ignored.")


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[WebhookEvent]
    created: datetime


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class WebhookSecret(BaseModel):
    secret: str = Field(description="The HMAC-SHA256 key of the `Vitrine-Signature` header (64 hex characters).")


class WebhookDeliveryOut(BaseModel):
    id: str = Field(description="The event's id, as in its body and the `Vitrine-Delivery` header.")
    webhook_id: str
    event: WebhookEvent
    url: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int = Field(description="Sends made so far.")
    last_status: int | None = Field(None, description="The receiver's HTTP status at the last send.")
    last_error: str | None = None
    next_attempt: datetime | None = Field(None, description="When a pending delivery is sent (again).")
    created: datetime
    delivered: datetime | None = None


class WebhookDeliveryList(BaseModel):
    deliveries: list[WebhookDeliveryOut]
