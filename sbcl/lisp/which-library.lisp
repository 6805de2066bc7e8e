;;;; Whose thread code runs in this process? SBCL_TEST_ARGS says what the
;;;; runner expects (sbcl/run_tests.py):
;;;;   upstream  the upstream-built runtime alone: thread.o in the
;;;;             executable, nothing of ours loaded
;;;;   grafted   the same executable and core with libsbthread.so.0 loaded
;;;;             (LD_PRELOAD, or a DT_NEEDED entry added with patchelf), and
;;;;             our code doing the work: the library redirects the
;;;;             executable's thread.c functions to its own at load time
;;;;   shared    thread.c removed from the runtime, which calls our
;;;;             libsbthread.so.0 (docs/relinking.md)
;;;;   static    our code linked into the executable
;;;;
;;;; What is mapped proves only that a library is loaded. Whose code runs is
;;;; shown by what happens: this file makes threads, interrupts one and
;;;; collects garbage, and reads libsbthread's counters (sbthread_stats)
;;;; before and after. They grow only when our create_thread,
;;;; interrupt_thread and gc_stop_the_world did the work.
;;;; Exits 104 when the expectation holds, 1 otherwise, after one line of
;;;; facts and, on failure, one line saying what did not hold.

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *expect* (sb-ext:posix-getenv "SBCL_TEST_ARGS"))

;;; The library's answer to "is this process grafted?", when it has one.
(defparameter *graft-query* "sbthread_is_grafted")

;;; (start end path) of every mapping of a file whose name (not folder:
;;; a clone may be called libsbthread) starts with libsbthread.
(defun libsbthread-mappings ()
  (with-open-file (maps "/proc/self/maps")
    (loop for line = (read-line maps nil)
          while line
          for path-start = (position #\/ line)
          for name-start = (and path-start (1+ (position #\/ line :from-end t)))
          when (and name-start (eql name-start (search "libsbthread" line :start2 name-start)))
            collect (let ((dash (position #\- line)))
                      (list (parse-integer line :end dash :radix 16)
                            (parse-integer line :start (1+ dash) :end (position #\Space line) :radix 16)
                            (subseq line path-start))))))

(defun call-int-function (name)
  "The int that foreign function NAME returns, or NIL when there is none."
  (let ((f (foreign-function name)))
    (and f (sb-alien:alien-funcall (sb-alien:sap-alien (sb-sys:int-sap f) (function sb-alien:int))))))

;;; struct sbthread_stats words: threads_created, stops, interrupts_sent.
(defparameter *counter-words* '(:threads-created :stops :interrupts-sent))

(defun exercise ()
  "Three threads, one of them interrupted, all waited for, then a GC."
  (let* ((released (make-array 3 :initial-element nil))
         (threads (loop for i below 3
                        collect (let ((i i))
                                  (sb-thread:make-thread
                                   (lambda () (loop until (svref released i) do (sleep 0.001))))))))
    (sb-thread:interrupt-thread (first threads) (lambda () (setf (svref released 0) t)))
    (setf (svref released 1) t (svref released 2) t)
    (let ((deadline (+ (get-internal-real-time) (* 30 internal-time-units-per-second))))
      (loop while (some #'sb-thread:thread-alive-p threads)
            do (when (> (get-internal-real-time) deadline)
                 (format t "~&which-library: FAIL: the threads did not end within 30 s~%")
                 (sb-ext:quit :unix-status 1))
               (sleep 0.001)))
    (sb-ext:gc)))

(let* ((before (apply #'sbthread-stat-words *counter-words*))
       (ignore (exercise))
       (after (apply #'sbthread-stat-words *counter-words*))
       (grown (and before after (mapcar #'- after before)))
       ;; 3 threads created, at least 1 stop, 1 interrupt: our code did it
       (ours-ran (and grown (>= (first grown) 3) (>= (second grown) 1) (>= (third grown) 1)))
       (maps (libsbthread-mappings))
       (files (remove-duplicates (mapcar #'third maps) :test #'string=))
       (create (foreign-function "create_thread"))
       (create-in (find-if (lambda (m) (and create (<= (first m) create) (< create (second m)))) maps))
       (ours-symbols (and (foreign-function "sbthread_stats") t))
       (host-mode (call-int-function "sbthread_is_host_mode"))
       (grafted (call-int-function *graft-query*))
       (counters (if grown
                     (format nil "threads created +~D, stops +~D, interrupts +~D" (first grown) (second grown)
                             (third grown))
                     "none (not our library)"))
       (problem
         (cond
             ((string= *expect* "upstream")
              (cond (maps "a libsbthread file is mapped")
                    (ours-symbols "sbthread_* symbols are defined")))
             ((string= *expect* "grafted")
              (cond ((not maps) "no libsbthread is loaded")
                    (create-in "create_thread is not the executable's: this is not the upstream executable")
                    ((not ours-ran)
                     (format nil "libsbthread.so.0 is loaded but its code did not run: the executable's own ~
                                  thread.c made the threads, sent the interrupt and stopped the world (our ~
                                  counters: ~A). ~:[This libsbthread has no ~A: it cannot take over ~
                                  an upstream-built executable yet (issue 17, the graft)~;The library did not ~
                                  graft (~A returns 0): its line on stderr says why~]"
                             counters grafted *graft-query*))
                    ((and grafted (/= grafted 1)) (format nil "~A returns ~A, not 1" *graft-query* grafted))
                    ((not (eql host-mode 1)) "libsbthread is not in host mode")))
             ((string= *expect* "shared")
              (cond ((not (and create-in (search "/prefix/lib/libsbthread.so" (third create-in))))
                     "create_thread is not in libsbthread.so.0 of build/sbcl/prefix")
                    ((not ours-ran) (format nil "our code did not do the work (our counters: ~A)" counters))
                    ((not (eql host-mode 1)) "libsbthread is not in host mode")
                    ((and grafted (/= grafted 0)) (format nil "~A returns ~A in a relinked runtime" *graft-query* grafted))))
             ((string= *expect* "static")
              (cond (maps "a libsbthread file is mapped")
                    ((or create-in (not create)) "create_thread is not in the executable")
                    ((not ours-ran) (format nil "our code did not do the work (our counters: ~A)" counters))
                    ((not (eql host-mode 1)) "libsbthread is not in host mode")
                    ((and grafted (/= grafted 0)) (format nil "~A returns ~A in a relinked runtime" *graft-query* grafted))))
             (t (format nil "unknown expectation ~S" *expect*)))))
  (declare (ignore ignore))
  (format t "~&which-library: expected ~A; libsbthread files mapped: ~:[none~;~:*~{~A~^, ~}~]; ~
             sbthread_* symbols ~:[absent~;present~]; host mode ~A; ~A ~A; create_thread of ~A; ~
             our counters after 3 threads, 1 interrupt, 1 GC: ~A~%"
          *expect* files ours-symbols (or host-mode "-") *graft-query* (if grafted grafted "absent")
          (if create-in (third create-in) "the executable") counters)
  (when problem
    (format t "~&which-library: FAIL (expected ~A): ~A~%" *expect* problem))
  (finish-output)
  (sb-ext:quit :unix-status (if problem 1 104)))
