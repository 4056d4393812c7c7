# A thin wrapper over meson/ninja for people's habits. The real build is in
# meson.build; the test runner is scripts/check.
BUILD   ?= build
PREFIX  ?= /usr/local
MESON   ?= meson

.PHONY: all check bench run format fuzz install deb clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	scripts/install-deps
	$(MESON) setup $(BUILD) --prefix=$(PREFIX)

check:
	scripts/check

bench: all
	scripts/bench

run: all
	scripts/run

format:
	git ls-files -co --exclude-standard -- '*.c' '*.h' | xargs -r clang-format -i

fuzz:
	scripts/fuzz

install: all
	$(MESON) configure $(BUILD) --prefix=$(PREFIX)
	$(MESON) install -C $(BUILD)

# Debian packages (vireo, libvireo0, libvireo-dev) in $(BUILD)/deb: see
# scripts/build-deb and debian/.
deb:
	scripts/install-deps
	scripts/build-deb $(BUILD)/deb

clean:
	rm -rf $(BUILD) build-asan build-fuzz
