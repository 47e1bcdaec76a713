# The README's two commands: `make run` (the app on the sample corpus) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
POSTS ?= sample/posts
INDEX ?= index

.PHONY: run test venv index clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the dependencies change. The milvus extra (client + local server) is needed by the Milvus tests.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,milvus]'
	touch $@

venv: $(VENV)/.installed

index: venv
	$(BIN)/tripsearch index $(POSTS) --index $(INDEX)

run: index
	TRIPSEARCH_POSTS=$(POSTS) TRIPSEARCH_INDEX=$(INDEX) $(BIN)/streamlit run app.py \
		--server.address 127.0.0.1 --server.headless true --browser.gatherUsageStats false

test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(INDEX)/*/ $(INDEX)/*.json $(INDEX)/*.sqlite*
