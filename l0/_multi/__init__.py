"""Many streams at once: race, parallel, sequential, batched, pool, consensus, pipeline.

Every composition here is built from anyio task groups owned by the call (or by the pool's
``async with``): nothing it starts outlives it, and every stream it reads is closed on every
path (success, failure, ``fail_fast``, cancellation of the caller).
"""

from l0._multi._compare import jaccard_similarity as jaccard_similarity
from l0._multi._compare import levenshtein_ratio as levenshtein_ratio
from l0._multi._compare import text_similarity as text_similarity
from l0._multi._compare import value_similarity as value_similarity
from l0._multi._consensus import ConsensusGroup as ConsensusGroup
from l0._multi._consensus import ConsensusResult as ConsensusResult
from l0._multi._consensus import Dissent as Dissent
from l0._multi._consensus import FieldAgreement as FieldAgreement
from l0._multi._consensus_run import consensus as consensus
from l0._multi._errors import ConsensusFailed as ConsensusFailed
from l0._multi._errors import ContentRejected as ContentRejected
from l0._multi._errors import PipelineStepFailed as PipelineStepFailed
from l0._multi._errors import PoolClosed as PoolClosed
from l0._multi._errors import TasksFailed as TasksFailed
from l0._multi._events import ConsensusAnalysis as ConsensusAnalysis
from l0._multi._events import ConsensusEnd as ConsensusEnd
from l0._multi._events import ConsensusEvent as ConsensusEvent
from l0._multi._events import ConsensusEventType as ConsensusEventType
from l0._multi._events import ConsensusOutputCollected as ConsensusOutputCollected
from l0._multi._events import ConsensusResolution as ConsensusResolution
from l0._multi._events import ConsensusStart as ConsensusStart
from l0._multi._events import ConsensusStreamEnd as ConsensusStreamEnd
from l0._multi._events import ConsensusStreamStart as ConsensusStreamStart
from l0._multi._parallel import batched as batched
from l0._multi._parallel import parallel as parallel
from l0._multi._parallel import sequential as sequential
from l0._multi._pipeline import PipelineBranch as PipelineBranch
from l0._multi._pipeline import PipelineResult as PipelineResult
from l0._multi._pipeline import PipelineStep as PipelineStep
from l0._multi._pipeline import StepResult as StepResult
from l0._multi._pipeline import pipeline as pipeline
from l0._multi._pool import Pool as Pool
from l0._multi._pool import PoolStats as PoolStats
from l0._multi._pool import pool as pool
from l0._multi._race import CandidateOutcome as CandidateOutcome
from l0._multi._race import RaceResult as RaceResult
from l0._multi._race import race as race
from l0._multi._results import ParallelResult as ParallelResult
from l0._multi._results import TaskOutcome as TaskOutcome
from l0._multi._results import TaskTelemetry as TaskTelemetry

# The CONSENSUS_* event classes belong in l0.events; the rest in l0.
EVENTS = (
    "ConsensusAnalysis",
    "ConsensusEnd",
    "ConsensusEvent",
    "ConsensusEventType",
    "ConsensusOutputCollected",
    "ConsensusResolution",
    "ConsensusStart",
    "ConsensusStreamEnd",
    "ConsensusStreamStart",
)

__all__ = [
    "EVENTS",
    "CandidateOutcome",
    "ConsensusAnalysis",
    "ConsensusEnd",
    "ConsensusEvent",
    "ConsensusEventType",
    "ConsensusFailed",
    "ConsensusGroup",
    "ConsensusOutputCollected",
    "ConsensusResolution",
    "ConsensusResult",
    "ConsensusStart",
    "ConsensusStreamEnd",
    "ConsensusStreamStart",
    "ContentRejected",
    "Dissent",
    "FieldAgreement",
    "ParallelResult",
    "PipelineBranch",
    "PipelineResult",
    "PipelineStep",
    "PipelineStepFailed",
    "Pool",
    "PoolClosed",
    "PoolStats",
    "RaceResult",
    "StepResult",
    "TaskOutcome",
    "TaskTelemetry",
    "TasksFailed",
    "batched",
    "consensus",
    "jaccard_similarity",
    "levenshtein_ratio",
    "parallel",
    "pipeline",
    "pool",
    "race",
    "sequential",
    "text_similarity",
    "value_similarity",
]
