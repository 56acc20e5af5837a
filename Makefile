# Two entry points (see README):
#   make app    set everything up, then serve the web app on the shipped default model
#   make test   set everything up (incl. Chromium for the browser test), then run the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: app test setup browser audio model clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dask]"
	touch $(STAMP)

setup: $(STAMP)

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

# PortAudio for `ser listen` (the sounddevice wheel bundles it on macOS/Windows, not on Linux)
audio:
	@ldconfig -p 2>/dev/null | grep -q libportaudio || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q libportaudio2; }

app: $(STAMP)
	$(BIN)/ser app

test: $(STAMP) browser audio
	SER_DISABLE_PLUGIN_AUTOLOAD= $(BIN)/python -m pytest

# Retrain the shipped default model (README, "Default model"): the pooled member, the CRNN
# member and the pooled member's speaker-normalised twin (used in its place with a speaker
# profile), each scored once on the untouched actors 17-20 and refitted on all 20, then fused.
# The fused temperature 0.878 was chosen on the members' cross-validated runs on actors 1-16
# (bench/fusion_cv.py runs/mod-cond-cv runs/crnn-aug-cond-cv --weights 2,1 --conditions --own-temperature).
model: $(STAMP)
	$(BIN)/ser train configs/default.yaml -o runs/default --force
	$(BIN)/ser train configs/default-crnn.yaml -o runs/default-crnn --force
	$(BIN)/ser train configs/default-profile.yaml -o runs/default-profile --force
	$(BIN)/ser fuse runs/default/model runs/default-crnn/model -w 2,1 --temperature 0.878 \
	  --profile-member runs/default-profile/model --profile-weight 2 \
	  -o ser_framework/default_model --force

clean:
	rm -rf $(VENV) runs test-artifacts .pytest_cache
