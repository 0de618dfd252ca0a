include $(sort $(wildcard $(BR2_EXTERNAL_TWINCAP_PATH)/package/*/*.mk))
