################################################################################
#
# twincap
#
################################################################################

# The source is this repository: the tree above BR2_EXTERNAL_TWINCAP_PATH.
TWINCAP_VERSION = local
TWINCAP_SITE = $(BR2_EXTERNAL_TWINCAP_PATH)/..
TWINCAP_SITE_METHOD = local
TWINCAP_LICENSE = Proprietary
TWINCAP_GOMOD = twincap
TWINCAP_BUILD_TARGETS = firmware/cmd/twincap-box firmware/cmd/twincapctl \
	firmware/cmd/twincap-selftest firmware/cmd/twincap-tryboot
TWINCAP_DEPENDENCIES = alsa-lib host-pkgconf opus x264
TWINCAP_LDFLAGS = -s -w

# A local source is not vendored by the download step (only downloaded
# sources are), and Go builds with -mod=vendor and no proxy here: vendor
# the rsynced copy once host-go is there, from go.sum, so every module is
# checked against the hashes in the repository.
TWINCAP_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = --exclude /out --exclude /bin --exclude /.cache --exclude /.git
define TWINCAP_VENDOR_MODULES
	cd $(@D) && $(HOST_GO_COMMON_ENV) GOFLAGS=-mod=mod \
		GOPROXY=$(call qstrip,$(BR2_PACKAGE_TWINCAP_GOPROXY)) \
		$(GO_BIN) mod vendor
endef
TWINCAP_PRE_BUILD_HOOKS += TWINCAP_VENDOR_MODULES

$(eval $(golang-package))
