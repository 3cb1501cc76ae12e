# Course targets, included by the top Makefile (include course/course.mk).
#
#   make project1 ... project4c   grade one stage (see doc/grading.md)
#   make handout                  cut the student handout into dist/handout (staff)
#   make handout-check            the checks CI runs on the handout (staff)
#   make handout-check-all        every check, slow cluster stages too (staff)
#
# GRADE_FLAGS passes flags to the grader: make project2b GRADE_FLAGS="-runs 5".

GRADE       ?= go run ./course/grade
GRADE_FLAGS ?=

COURSE_PROJECTS := project1 project2a project2aa project2ab project2ac project2b project2c \
	project3a project3b project3c project4a project4b project4c

.PHONY: $(COURSE_PROJECTS)

# project2aa -> -stage 2aa (the grader takes stage names in any case)
$(COURSE_PROJECTS):
	$(GRADE) -stage $(patsubst project%,%,$@) $(GRADE_FLAGS)

#lab:begin staff
HANDOUT_DIR   ?= dist/handout
HANDOUT_FLAGS ?=

.PHONY: handout handout-check handout-check-all

handout:
	go run ./course/handout -out $(HANDOUT_DIR) $(HANDOUT_FLAGS)

handout-check:
	go run ./course/handout -check $(HANDOUT_FLAGS)

handout-check-all:
	go run ./course/handout -check -all $(HANDOUT_FLAGS)
#lab:end
