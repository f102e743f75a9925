"""MLflow "model from code" entry point of the candidate generator (see graphrec.candidates.pyfunc).

MLflow copies this file into the logged model and runs it at load time; it only names the model
class, so nothing is pickled. Not meant to be imported by other code.
"""

from mlflow.models import set_model

from graphrec.candidates.pyfunc import CandidateGenerator

set_model(CandidateGenerator())
